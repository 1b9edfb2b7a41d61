"""Every built-in observer a training run gets, assembled in this one place from the config
(`trainer.zsq_every_n_steps`, `diag.*`). Called by train.run; extra observers (a search's
pruner, a benchmark's timer) are passed to `train_run(extra_observers=...)` instead."""

from __future__ import annotations

from pathlib import Path
from typing import List

from torch import nn

from ..observer import Observer
from ..record.tensorboard import TBLogger
from .activations import ActivationStats
from .gradflow import GradFlow
from .schedule import RecordSchedule
from .zsq import ZSquared


def build_observers(cfg, model: nn.Module, run_dir: Path, tb: TBLogger,
                    steps_per_epoch: int) -> List[Observer]:
    """Statistics and diagnostics that watch the run. Each returns per-epoch values from
    `epoch_summary`: keys with a '/' are TensorBoard tags (and go to metrics.json history)."""
    every = cfg.trainer.zsq_every_n_steps
    observers: List[Observer] = [ZSquared(model, every)] if every > 0 else []
    return observers + diagnostic_observers(cfg, model, run_dir, tb, steps_per_epoch)


def diagnostic_observers(cfg, model: nn.Module, run_dir: Path, tb: TBLogger,
                         steps_per_epoch: int) -> List[Observer]:
    """Gradient flow and activation statistics, when `diag.enabled`."""
    d = cfg.diag
    if not d.enabled:
        return []
    schedule = RecordSchedule(d.every_n_steps, steps_per_epoch, cfg.trainer.epochs,
                              cfg.trainer.max_steps, d.hist_every_n_epochs)
    observers: List[Observer] = [GradFlow(model, schedule, tb, run_dir, d.norm_weights, d.biases)]
    if d.activations:
        observers.append(ActivationStats(model, schedule, tb))
    return observers
