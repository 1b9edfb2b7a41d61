"""Graceful stop on SIGTERM/SIGUSR2: finish the current step, checkpoint, then hand over.

Cluster schedulers (and submitit) send these before killing or preempting a job. The
handler only sets a flag; the loop checks it between steps, writes a checkpoint, and
then calls the handler that was installed before ours (submitit's requeue), or exits.
"""

from __future__ import annotations

import signal
import sys
from typing import Any, Dict, Optional

SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGUSR2", None)) if s)


class StopRequest:
    def __init__(self) -> None:
        self.signum: Optional[int] = None
        self.previous: Dict[int, Any] = {}

    def install(self) -> "StopRequest":
        try:
            for sig in SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread (e.g. a joblib worker thread): no handlers
            self.previous.clear()
        return self

    def _handle(self, signum, frame) -> None:
        self.signum = signum

    def __bool__(self) -> bool:
        return self.signum is not None

    def uninstall(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous.clear()

    def hand_over(self) -> None:
        """After the checkpoint: run the previous handler (e.g. submitit requeues), else exit."""
        signum, previous = self.signum, self.previous.get(self.signum)
        self.uninstall()
        if callable(previous):
            previous(signum, None)
        sys.exit(128 + int(signum))
