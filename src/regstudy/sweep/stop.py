"""Stopping a whole sweep: SIGINT/SIGTERM to the launching process ends every worker too.

A parallel launcher's workers (joblib's loky processes) outlive their parent when it dies
of a signal: they go on training, or sit idle for minutes holding their memory. The process
that runs the sweep instead forwards SIGTERM to every process below it, waits until none of
them holds a run's lock any more (each run has checkpointed and recorded `interrupted`), then
ends them all, kills what is left after `grace_s`, and only then exits itself. Workers are
not ended one by one before that: the pool would take one worker's exit for a crash and kill
the others in the middle of their checkpoints. Linux /proc is read to find the processes and
their locks; elsewhere only the launching process stops.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

log = logging.getLogger("regstudy")

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE_S = 60.0


def live_processes() -> Dict[int, Tuple[int, int]]:
    """pid -> (parent pid, process group) of every live process visible in /proc."""
    out: Dict[int, Tuple[int, int]] = {}
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()   # after "pid (comm) "
        if fields[0] not in ("Z", "X"):                 # a zombie is gone already
            out[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return out


def _parents() -> Dict[int, int]:
    """pid -> parent pid of every live process."""
    return {pid: ppid for pid, (ppid, _) in live_processes().items()}


def group_members(pgid: int) -> List[int]:
    """Live processes whose process group is `pgid`."""
    return [pid for pid, (_, group) in live_processes().items() if group == pgid]


def descendants(pid: int) -> List[int]:
    """Every live process below `pid` (children, their children, ...)."""
    parents = _parents()
    found: List[int] = []
    frontier = [pid]
    while frontier:
        kids = [p for p, pp in parents.items() if pp in frontier and p not in found]
        found += kids
        frontier = kids
    return found


def _signal_all(pids: List[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def flock_holders() -> Set[int]:
    """Processes holding a flock (run directories are locked with one: regstudy.record.lock)."""
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return set()
    return {int(f[4]) for f in (ln.split() for ln in lines)
            if len(f) > 4 and f[1] == "FLOCK" and f[4].isdigit()}


def stop_descendants(signum: int = signal.SIGTERM, grace_s: float = GRACE_S) -> int:
    """Send `signum` to every process below this one; once none of them holds a run lock,
    SIGTERM them all and wait for them to exit; SIGKILL what is left after `grace_s`.
    Returns how many had to be killed."""
    _signal_all(descendants(os.getpid()), signum)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and flock_holders() & set(descendants(os.getpid())):
        time.sleep(0.2)   # runs still checkpointing
    _signal_all(descendants(os.getpid()), signal.SIGTERM)   # idle workers
    while time.monotonic() < deadline:
        # processes that ignore SIGTERM and end with their parent (joblib's resource tracker)
        # are not waited for: they exit as soon as this process does
        alive = [p for p in descendants(os.getpid()) if not _ignores_term(p)]
        if not alive:
            return 0
        time.sleep(0.2)
    left = descendants(os.getpid())
    _signal_all(left, signal.SIGKILL)
    return len(left)


def _ignores_term(pid: int) -> bool:
    """True when `pid` ignores SIGTERM (SigIgn in /proc/<pid>/status has its bit set)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigIgn:"):
                return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    except (OSError, ValueError):
        pass
    return False


class SweepStop:
    """Installed by the process that launches a sweep: on SIGINT/SIGTERM, stop the workers
    (they checkpoint), then exit 128 + signal. A run training in this same process (Hydra's
    basic launcher) catches SIGTERM itself, checkpoints, and hands over to this handler."""

    def __init__(self, grace_s: float = GRACE_S) -> None:
        self.grace_s = grace_s
        self.previous: Dict[int, Any] = {}
        self.stopping = False

    def install(self) -> SweepStop:
        for sig in STOP_SIGNALS:
            self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        self.previous.clear()

    def _handle(self, signum: int, frame) -> None:
        if self.stopping:
            return   # a second signal while the workers checkpoint: keep waiting for them
        self.stopping = True
        name = signal.Signals(signum).name
        print(f"regstudy train: {name}: stopping the sweep's worker processes (each run "
              "checkpoints)", file=sys.stderr, flush=True)
        killed = stop_descendants(signal.SIGTERM, self.grace_s)
        if killed:
            log.warning("%d worker process(es) did not stop within %.0f s and were killed",
                        killed, self.grace_s)
        self.uninstall()
        sys.exit(128 + signum)
