"""Run one stage's sweep as a child process, its output in a log file, and stop it cleanly.

The child gets its own process group, so a Ctrl-C or a SIGTERM of `regstudy study` reaches
every job of the sweep as SIGTERM: each run checkpoints and the same command resumes it.
Nothing of the group outlives the stage: what is left once the child has exited (a pool's
idle workers) gets SIGTERM, then SIGKILL after `END_GRACE_S`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_logged(argv: List[str], log_path: Path, env: Optional[Dict[str, str]] = None) -> int:
    """Run `argv` to completion with stdout and stderr appended to `log_path`; its exit code."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    with open(log_path, "a") as log:
        log.write("$ " + " ".join(argv) + "\n")
        log.flush()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            _stop(proc)
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
            _end_group(proc.pid)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's whole group (the jobs checkpoint), SIGKILL if it lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


END_GRACE_S = 10.0


def _end_group(pgid: int, grace_s: float = END_GRACE_S) -> None:
    """End what the sweep left in its group (joblib's idle workers wait minutes otherwise):
    SIGTERM, then SIGKILL for whatever still lives after `grace_s` (a process that ignores
    SIGTERM, or a worker stuck in a step)."""
    deadline = time.monotonic() + grace_s
    try:
        os.killpg(pgid, signal.SIGTERM)
        while time.monotonic() < deadline:
            time.sleep(0.1)
            os.killpg(pgid, 0)   # ProcessLookupError once the group is empty
        os.killpg(pgid, signal.SIGKILL)
        _wait_gone(pgid, 5.0)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pgid: int, timeout_s: float) -> None:
    """SIGKILL is delivered asynchronously: return once no live process is left in the group
    (a killed process that nobody reaps yet is a zombie and no longer counts)."""
    from ..sweep.stop import group_members

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and group_members(pgid):
        time.sleep(0.05)


def say(message: str) -> None:
    print(f"regstudy study: {message}", flush=True)


def warn(message: str) -> None:
    print(f"regstudy study: warning: {message}", file=sys.stderr, flush=True)
