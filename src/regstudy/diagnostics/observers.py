"""The diagnostics a training run gets from `diag.*` (called by train.run.build_observers)."""

from __future__ import annotations

from pathlib import Path
from typing import List

from torch import nn

from ..record.tensorboard import TBLogger
from ..train.loop import Observer
from .activations import ActivationStats
from .gradflow import GradFlow
from .schedule import RecordSchedule


def diagnostic_observers(cfg, model: nn.Module, run_dir: Path, tb: TBLogger,
                         steps_per_epoch: int) -> List[Observer]:
    d = cfg.diag
    if not d.enabled:
        return []
    schedule = RecordSchedule(d.every_n_steps, steps_per_epoch, cfg.trainer.epochs,
                              cfg.trainer.max_steps, d.hist_every_n_epochs)
    observers: List[Observer] = [GradFlow(model, schedule, tb, run_dir, d.norm_weights, d.biases)]
    if d.activations:
        observers.append(ActivationStats(model, schedule, tb))
    return observers
