"""The `regstudy train -m` command line of every stage: pure functions of the study and paths.

Each stage is an ordinary sweep, so it runs through the configured launcher, writes ordinary
run directories and resumes the way every sweep does (same hydra.sweep.dir: finished jobs
are skipped; the Optuna study in the sweep dir keeps finished trials).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

from .spec import Arm, Study

ARM_GROUP = "arm"   # the config group of tuned arms the study writes (DIR/conf/arm/<name>.yaml)

# Tuning and grid sweeps choose on validation: their tables show it, never the test metric.
VALIDATION_TABLE = ["hydra.callbacks.sweep_table.metric=best_val_acc",
                    "hydra.callbacks.sweep_table.baseline=null"]


def train_argv(overrides: List[str]) -> List[str]:
    return [sys.executable, "-m", "regstudy.cli", "train", "-m", *overrides]


def tune_overrides(study: Study, arm: Arm, base: List[str], sweep_dir: Path) -> List[str]:
    """Stage 1 for one arm: an Optuna search of its knobs (search sweeper, contract C2)."""
    t = study.tune
    return [*base, arm.reg_override, *(f"{k}={v}" for k, v in arm.space.items()),
            *study.launcher, "hydra/sweeper=optuna",
            f"hydra.sweeper.n_trials={study.trials}",
            f"hydra.sweeper.study_name={study.name}-{arm.name}",
            f"hydra.sweeper.sampler={t['sampler']}", f"hydra.sweeper.seed={t['sampler_seed']}",
            f"hydra.sweeper.pruner={t['pruner']}", f"hydra.sweeper.objective={t['objective']}",
            *([f"hydra.sweeper.direction={t['direction']}"] if t.get("direction") else []),
            *search_options(study),
            f"seed={t['seed']}", f"trainer.epochs={study.tune_epochs}",
            f"hydra.sweep.dir={sweep_dir}", *VALIDATION_TABLE]


def search_options(study: Study) -> List[str]:
    """TPE's start-up scaled to the trial budget, and the median pruner's warm-up in epochs
    (trials report their validation metric at step = epoch, from 1)."""
    t, out = study.tune, []
    if t["sampler"] == "tpe":
        startup = max(2, round(study.trials * float(t.get("startup_fraction", 0.3))))
        out.append(f"+hydra.sweeper.sampler_options.n_startup_trials={startup}")
    if t["pruner"] == "median" and int(t.get("prune_from_epoch", 1)) > 1:
        out.append(f"+hydra.sweeper.pruner_options.n_warmup_steps={int(t['prune_from_epoch'])}")
    return out


def final_overrides(study: Study, arms: List[str], base: List[str], conf_dir: Path,
                    sweep_dir: Path, baseline: str) -> List[str]:
    """Stage 2: every arm's tuned config (+arm=NAME from DIR/conf) x the fresh seeds, one sweep.

    The arm is the only override that varies besides the seed, so `regstudy table` and
    `regstudy report` group by it: --baseline arm=NAME."""
    return [*base, f"hydra.searchpath=[file://{Path(conf_dir).resolve()}]",
            f"+{ARM_GROUP}={','.join(arms)}", f"seed={','.join(map(str, study.seeds))}",
            f"trainer.epochs={study.final_epochs}", *study.launcher,
            f"hydra.sweep.dir={sweep_dir}",
            f"hydra.callbacks.sweep_table.metric={study.metric}",
            f"hydra.callbacks.sweep_table.baseline='{ARM_GROUP}={baseline}'"]


def grid_overrides(study: Study, arm: Arm, base: List[str], sweep_dir: Path) -> List[str]:
    """The source study's grid for one arm, with the tuning seed(s) and epochs, on validation."""
    return [*base, arm.reg_override, *(f"{k}={v}" for k, v in arm.grid.items()),
            f"seed={','.join(map(str, study.grid_seeds))}", f"trainer.epochs={study.tune_epochs}",
            *study.launcher, f"hydra.sweep.dir={sweep_dir}", *VALIDATION_TABLE]


def grid_size(arm: Arm) -> int:
    n = 1
    for values in arm.grid.values():
        n *= len(values.split(","))
    return n
