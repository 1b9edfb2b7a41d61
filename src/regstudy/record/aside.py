"""A run that starts over in a used directory moves the earlier run's files aside.

Without this, TensorBoard shows the old and the new curve under one run name and train.log
holds both runs. The old files go to `replaced/<time>/` in the run directory (its record as
`record.json`, so tables over the directory do not count it as a run of its own).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Optional

from .run_record import HISTORY_FILE, METRICS_FILE

log = logging.getLogger("regstudy")

ASIDE_DIR = "replaced"
# What an earlier run leaves that a new run would mix with its own (checkpoints are
# named by regstudy.training.checkpoint; the names are repeated to keep imports one-way).
MOVED = ("tb", "train.log", HISTORY_FILE, "best_model.pt", "checkpoint.pt")


def _reopen_log_files(path: Path) -> None:
    """Logging handlers writing to `path` (Hydra's train.log) start a new file there."""
    target = os.path.abspath(path)
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            if isinstance(handler, logging.FileHandler) and handler.baseFilename == target:
                handler.close()   # FileHandler reopens its file on the next record


def set_aside_previous(run_dir: Path) -> Optional[Path]:
    """Move an earlier run's events, log, history and weights to `replaced/<time>/`; returns
    that folder, or None when the directory holds no earlier run."""
    run_dir = Path(run_dir)
    if not (run_dir / METRICS_FILE).is_file() and not (run_dir / "tb").is_dir():
        return None
    aside = run_dir / ASIDE_DIR / time.strftime("%Y-%m-%d_%H-%M-%S")
    suffix = 1
    while aside.exists():
        aside = aside.with_name(f"{aside.name.split('.')[0]}.{suffix}")
        suffix += 1
    aside.mkdir(parents=True)
    for name in MOVED:
        if (run_dir / name).exists():
            shutil.move(str(run_dir / name), str(aside / name))
    if (run_dir / METRICS_FILE).is_file():
        shutil.copy2(run_dir / METRICS_FILE, aside / "record.json")
    _reopen_log_files(run_dir / "train.log")
    log.info("starting %s over: the earlier run's events, log and record are in %s",
             run_dir, aside)
    return aside
