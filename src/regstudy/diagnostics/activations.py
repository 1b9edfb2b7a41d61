"""Activation statistics per activation site: mean, std and the fraction of exact zeros of the
activation's output (for ReLU: the share of dead units on that batch)."""

from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn

from ..models.sites import ActSite, SiteRecord, site_modules
from ..observer import Observer
from ..record.tensorboard import TBLogger
from .buffer import StatsBuffer
from .schedule import RecordSchedule


def output_stats(y: torch.Tensor) -> torch.Tensor:
    """(3,) tensor: mean, std and fraction of exactly-zero entries of `y`, no host sync."""
    y = y.detach().float()
    zeros = (y == 0).sum() / y.numel()   # count_nonzero is ~10x slower on the CPU
    return torch.stack([y.mean(), y.std(), zeros])


class ActivationStats(Observer):
    """Asks for the activation sites on the schedule's steps and records, per site, statistics
    of act(z). The sites record only their input z; the output is recomputed here from z with
    the site's own activation (elementwise, exact, no grad) so the normal forward path stays
    untouched. Written as TensorBoard scalars activations/{mean,std,zero_frac}/<site> and as
    "activations" in metrics.json history."""

    COLUMNS = ("mean", "std", "zero_frac")

    def __init__(self, model: nn.Module, schedule: RecordSchedule, tb: TBLogger) -> None:
        self.acts: Dict[str, nn.Module] = {s.site_name: s.act for s in site_modules(model)
                                           if isinstance(s, ActSite)}
        self.schedule = schedule
        self.buffer = StatsBuffer("activations", self.COLUMNS, schedule, tb)

    def wants_sites(self, step: int) -> bool:
        return self.schedule.due(step)

    def after_backward(self, step: int, model: nn.Module, rec: SiteRecord) -> None:
        if not self.schedule.due(step) or not rec.tensors:
            return
        names: List[str] = []
        rows: List[torch.Tensor] = []
        seen: Dict[str, int] = {}
        with torch.no_grad():
            for name, z in zip(rec.names, rec.tensors):
                act = self.acts.get(name)
                if act is None:          # the logit site has no activation
                    continue
                seen[name] = seen.get(name, 0) + 1    # a site called twice gets name#2
                names.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
                rows.append(output_stats(act(z.detach())))
        if rows:
            self.buffer.add(step, names, torch.stack(rows))

    def epoch_summary(self, epoch: int, step: int) -> Dict[str, object]:
        newest = self.buffer.flush()
        return {} if newest is None else {"activations": newest}

    def state_dict(self) -> Dict[str, object]:
        return {"buffer": self.buffer.state_dict()}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        self.buffer.load_state_dict(state.get("buffer", {}))
