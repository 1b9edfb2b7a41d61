"""Graceful stop on SIGTERM/SIGUSR2: finish the current step, checkpoint, then hand over.

Cluster schedulers (and submitit) send these before killing or preempting a job. The
handler only sets a flag; the loop checks it between steps, writes a checkpoint, and
then calls the handler that was installed before ours (submitit's requeue), or exits.

A SIGTERM may come first and the requeue signal (USR2) a grace period later (`scancel
--signal TERM` then `--signal USR2`, as submitit's own preemption test does). submitit ignores
SIGTERM and requeues on USR2, so under a submitit SLURM job whose state is still RUNNING the
hand-over of a SIGTERM waits for that USR2 (or SLURM's SIGKILL) instead of exiting before it
arrives. When SLURM itself is ending the job (COMPLETING: preemption, `scontrol requeue`, a
time limit, scancel) no USR2 follows; the job exits at once and SLURM requeues or ends it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Dict, Optional

SIGNALS = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGUSR2", None)) if s)
REQUEUE_SIGNAL = getattr(signal, "SIGUSR2", None)   # submitit's preemption/time-out signal
USR2_WAIT_S = 300.0   # after SIGTERM, how long a submitit SLURM job waits for the requeue signal

log = logging.getLogger("regstudy")


def requeue_wait_s() -> float:
    """Seconds to wait for USR2 after SIGTERM: USR2_WAIT_S in a submitit job on SLURM (where
    SLURM's KillWait/GraceTime ends the wait with SIGKILL if no USR2 comes), else 0."""
    under_slurm = os.environ.get("SUBMITIT_EXECUTOR") == "slurm" and "SLURM_JOB_ID" in os.environ
    return USR2_WAIT_S if under_slurm else 0.0


def slurm_job_ending() -> bool:
    """True when squeue shows this SLURM job no longer RUNNING (SLURM is ending it); False when
    it runs or squeue cannot say (then the hand-over waits, as for a RUNNING job)."""
    try:
        out = subprocess.run(["squeue", "-h", "-j", os.environ["SLURM_JOB_ID"], "-o", "%T"],
                             capture_output=True, text=True, timeout=15)
    except (OSError, KeyError, subprocess.SubprocessError):
        return False
    states = out.stdout.split()
    return out.returncode == 0 and bool(states) and states[0] != "RUNNING"


class StopRequest:
    """`on_stop` runs once before the hand-over (the run records itself `interrupted` then,
    since what follows may end the process: a requeue, a SIGKILL while waiting)."""

    def __init__(self, on_stop: Optional[Callable[[], None]] = None,
                 wait_s: Optional[float] = None,
                 job_ending: Callable[[], bool] = slurm_job_ending) -> None:
        self.signum: Optional[int] = None
        self.previous: Dict[int, Any] = {}
        self.on_stop = on_stop
        self.wait_s = requeue_wait_s() if wait_s is None else wait_s
        self.job_ending = job_ending

    def install(self) -> StopRequest:
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

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else "no signal"

    def uninstall(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous.clear()

    def hand_over(self) -> None:
        """After the checkpoint: run the previous handler (e.g. submitit requeues), else exit.
        A SIGTERM whose requeue signal has a handler of its own (submitit's) waits for it."""
        signum, previous = self.signum, self.previous.get(self.signum)
        requeue = self.previous.get(REQUEUE_SIGNAL)
        self.uninstall()   # from here on the previous handlers see every signal
        if self.on_stop is not None:
            self.on_stop()
        if callable(previous):
            previous(signum, None)
        if signum != REQUEUE_SIGNAL and callable(requeue) and self.wait_s > 0:
            self._wait_for_requeue_signal()
        sys.exit(128 + int(signum))

    def _wait_for_requeue_signal(self) -> None:
        """Sleep until the requeue handler ends the process, SLURM kills it, or wait_s passes."""
        if self.job_ending():
            log.info("%s: SLURM is ending this job; exiting", self.name)
            return
        log.info("%s: waiting up to %.0f s for %s, the requeue signal", self.name, self.wait_s,
                 signal.Signals(REQUEUE_SIGNAL).name)
        deadline = time.monotonic() + self.wait_s
        while time.monotonic() < deadline:
            time.sleep(0.2)
