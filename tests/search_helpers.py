"""Shared settings and helpers of the Optuna search tests: tiny real-MNIST trials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from .conftest import REPO, run_cli

# A trial: smallcnn on 300 real MNIST images, 2 epochs (val acc ~0.6 when it learns).
TRIAL = ["model=smallcnn", "optim.lr=0.1", "dataset.subset=300", "dataset.val_size=200",
         "dataset.test_subset=200", "trainer.epochs=2", "trainer.batch_size=50",
         "diag.enabled=false", "trainer.zsq_every_n_steps=0", "trainer.progress=lines"]
L2_SPACE = "reg.l2.strength=tag(log, interval(1e-6, 1e-1))"


def search_args(sweep_dir: Path, *extra: str, n_trials: int = 4) -> List[str]:
    return ["train", "-m", "hydra/sweeper=optuna", "reg=l2", *TRIAL, L2_SPACE,
            f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweep.dir={sweep_dir}", *extra]


def search(sweep_dir: Path, data_root: Path, *extra: str, n_trials: int = 4):
    return run_cli(search_args(sweep_dir, *extra, n_trials=n_trials),
                   env={"REGSTUDY_DATA": str(data_root)})


def popen_search(sweep_dir: Path, data_root: Path, *extra: str, n_trials: int = 4,
                 log: Optional[Path] = None) -> subprocess.Popen:
    """A search in the background, as a second worker or a process to kill."""
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "REGSTUDY_DATA": str(data_root)}
    out = open(log, "w") if log else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", "regstudy.cli",
                             *search_args(sweep_dir, *extra, n_trials=n_trials)],
                            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)


def load_study(storage: str, name: str = "regstudy"):
    import optuna

    from regstudy.search.storage import open_storage

    return optuna.load_study(study_name=name, storage=open_storage(storage))


def records(sweep_dir: Path) -> Dict[int, dict]:
    """Trial number -> metrics.json of every trial run directory under sweep_dir."""
    out = {}
    for path in Path(sweep_dir).glob("*/metrics.json"):
        rec = json.loads(path.read_text())
        out[int(rec["config"]["search"]["trial"])] = rec
    return out
