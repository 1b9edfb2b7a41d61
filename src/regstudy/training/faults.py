"""Fault injection for tests: stop this process at a named point, deterministically.

`REGSTUDY_FAULT=step:37` SIGKILLs the process at its 37th optimizer step (counted over
every run in the process, so a sweep can be killed inside its second job);
`REGSTUDY_FAULT=step:37:TERM` sends SIGTERM instead (a graceful stop);
`REGSTUDY_FAULT=checkpoint_write:2` SIGKILLs it in the middle of writing the 2nd checkpoint
(after the temporary file is written, before the rename); `REGSTUDY_FAULT=start:1:TERM`
signals the first run while it starts (directory locked, before its data is loaded). Unset,
this costs one comparison.
"""

from __future__ import annotations

import os
import signal
from typing import Dict, Optional, Tuple


def _parse(spec: Optional[str]) -> Optional[Tuple[str, int, int]]:
    if not spec:
        return None
    point, count, *sig = spec.split(":")
    return point, int(count), getattr(signal, f"SIG{sig[0]}") if sig else signal.SIGKILL


_FAULT = _parse(os.environ.get("REGSTUDY_FAULT"))
_counts: Dict[str, int] = {}


def maybe_fail(point: str) -> None:
    """Signal this process when `point` is reached for the configured time."""
    if _FAULT is None or _FAULT[0] != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == _FAULT[1]:
        os.kill(os.getpid(), _FAULT[2])
