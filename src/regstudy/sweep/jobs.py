"""What a job of `regstudy train` tells its user: which job a line belongs to, how to
continue an interrupted run, a `latest` link to the newest run of a name; and how a job in a
pool worker behaves once the sweep is stopping.

Torch-free: called from the Hydra task function around `train_run`.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
from pathlib import Path
from typing import List, Optional

from ..record.run_record import override_key

log = logging.getLogger("regstudy")

LATEST_LINK = "latest"


def is_multirun(hc) -> bool:
    from hydra.types import RunMode

    return hc.mode == RunMode.MULTIRUN


class _JobPrefix(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_job_prefixed", False):
            record.msg = f"{self.prefix}{record.msg}"
            record._job_prefixed = True
        return True


class JobLines:
    """In a sweep, every log line of a job starts with `[job N]` (parallel jobs' lines
    interleave); a single run's lines are left as they are."""

    def __init__(self, hc) -> None:
        self.filter = _JobPrefix(f"[job {hc.job.num}] ") if is_multirun(hc) else None
        self.handlers: List[logging.Handler] = []

    def install(self) -> JobLines:
        if self.filter is not None:
            self.handlers = list(logging.getLogger().handlers)
            for handler in self.handlers:
                handler.addFilter(self.filter)
        return self

    def uninstall(self) -> None:
        for handler in self.handlers:
            handler.removeFilter(self.filter)
        self.handlers = []


def continue_command(hc, run_dir: Path, threads: int) -> str:
    """The command that continues this run from its checkpoint: its overrides, the thread
    count it ran with (part of what it computes), and its exact directory."""
    overrides = [o for o in hc.overrides.task if not o.startswith("trainer.threads=")]
    words = ["regstudy", "train", *overrides, f"trainer.threads={threads}",
             f"hydra.run.dir={run_dir}"]
    command = " ".join(shlex.quote(w) for w in words)
    if is_multirun(hc):
        command += (f" (or the sweep's own command with hydra.sweep.dir="
                    f"{shlex.quote(str(Path(hc.sweep.dir)))}, which continues every job)")
    return command


def user_set_run_dir(hc) -> bool:
    return any(override_key(o) == "hydra.run.dir" for o in hc.overrides.hydra)


def link_latest(hc, run_dir: Path) -> None:
    """`<parent>/latest` -> this run, for runs in Hydra's timestamped default directory, so
    `hydra.run.dir=outputs/<name>/latest` continues the newest one without its timestamp."""
    if is_multirun(hc) or user_set_run_dir(hc):
        return
    link = run_dir.parent / LATEST_LINK
    tmp = run_dir.parent / f".{LATEST_LINK}.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError as err:   # a filesystem without symlinks: the printed path still works
        log.debug("no %s link: %s", link, err)


def unlink_latest(hc, run_dir: Path) -> None:
    """Remove the `latest` link when it points at `run_dir` (a run discarded before training)."""
    link = run_dir.parent / LATEST_LINK
    if not is_multirun(hc) and link.is_symlink() and os.readlink(link) == run_dir.name:
        link.unlink()


class PoolWorker:
    """A job in a joblib worker process, as opposed to the process that launched the sweep.

    The pool catches a stopped job's exit and would hand the worker the next job; a worker
    whose job was stopped therefore refuses later jobs, and the launching process ends the
    workers once every run has checkpointed (regstudy.sweep.stop). Ctrl-C is ignored here:
    the launching process turns it into SIGTERM, which a run answers with a checkpoint."""

    stopped = False   # a job of this process was stopped: the sweep is shutting down

    def __init__(self, hc, sweep_pid: Optional[str]) -> None:
        launcher = str(hc.launcher.get("_target_", ""))
        self.active = "joblib" in launcher and sweep_pid not in (None, str(os.getpid()))
        if self.active:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    def refuses_job(self) -> bool:
        return self.active and PoolWorker.stopped

    def job_stopped(self) -> None:
        if self.active:
            PoolWorker.stopped = True
