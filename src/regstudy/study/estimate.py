"""`--dry-run`: the plan in numbers, and the CPU time it will take from a short timing run.

The timing run is `regstudy train` of the study's heaviest arm for a few steps on one thread
(what each job of the joblib launcher gets here). Per run: the process overhead measured,
plus epochs x (steps per epoch x seconds per step + a validation pass), plus the test passes;
an evaluation image is counted at a third of a training image (forward only). An upper
bound: pruning and early stopping end runs sooner.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

from ..record.run_record import RunRecord
from .commands import grid_size
from .spec import Study, grid_arms

EVAL_COST = 1 / 3   # an evaluation image relative to a training image (no backward pass)


@dataclass(frozen=True)
class Timing:
    seconds_per_step: float
    steps_per_epoch: int
    eval_images_per_epoch: int     # validation
    test_images: int               # evaluated twice at the end (last and best weights)
    batch_size: int
    overhead_s: float              # process start, data decoding, model build

    def run_seconds(self, epochs: int) -> float:
        per_image = self.seconds_per_step / self.batch_size
        epoch = (self.steps_per_epoch * self.seconds_per_step
                 + self.eval_images_per_epoch * per_image * EVAL_COST)
        return self.overhead_s + epochs * epoch + 2 * self.test_images * per_image * EVAL_COST


def run_counts(study: Study) -> Dict[str, Dict[str, int]]:
    """Runs and epochs (at most) per stage."""
    tuned = [a for a in study.arms if a.tuned]
    n_ablation = 0
    if study.ablation:
        n_ablation = max((len(a.regs) for a in study.arms
                          if a.name == study.ablation or (study.ablation == "best"
                                                          and len(a.regs) > 1)), default=0)
    finals = (len(study.arms) + n_ablation) * len(study.seeds)
    counts = {"tune": {"runs": len(tuned) * study.trials, "epochs": study.tune_epochs},
              "final": {"runs": finals, "epochs": study.final_epochs}}
    if study.grid_enabled:
        grid = sum(grid_size(a) for a in grid_arms(study)) * len(study.grid_seeds)
        counts["grid"] = {"runs": grid, "epochs": study.tune_epochs}
    return counts


def measure(base: List[str], regs: List[str], steps: int = 30) -> Timing:
    """Train `steps` steps of the configured model and data with reg=[regs] on one thread."""
    with tempfile.TemporaryDirectory(prefix="regstudy-timing-") as tmp:
        single = [o for o in base if not o.lstrip("+~").startswith("hydra")]
        argv = [sys.executable, "-m", "regstudy.cli", "train", *single, f"reg=[{','.join(regs)}]",
                f"trainer.max_steps={steps}", "trainer.epochs=1", "trainer.progress=lines",
                f"hydra.run.dir={tmp}/run"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            raise RuntimeError(f"the timing run failed: {tail}")
        loaded = RunRecord.load(Path(tmp, "run"))
    if not loaded.readable:
        raise RuntimeError(f"the timing run left no record: {loaded.problem}")
    rec = loaded.data
    batch = int(rec["config"]["trainer"]["batch_size"])
    per_step = rec["train_seconds"] / max(rec["steps"], 1)
    timing = Timing(per_step, math.ceil(rec["train_size"] / batch), rec["val_size"],
                    rec["test_size"], batch, 0.0)
    overhead = wall - (timing.run_seconds(1) - per_step * timing.steps_per_epoch
                       + rec["train_seconds"])
    return Timing(per_step, timing.steps_per_epoch, rec["val_size"], rec["test_size"], batch,
                  max(overhead, 0.0))


def cpu_seconds(counts: Dict[str, Dict[str, int]], timing: Timing) -> Dict[str, float]:
    return {stage: c["runs"] * timing.run_seconds(c["epochs"]) for stage, c in counts.items()}
