"""Gradient flow: mean and max |grad| of every weight tensor, the coursework's diagnostic for
why a deep plain network (VGG_38 without batch norm) does not train."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..models.sites import SiteRecord
from ..observer import Observer
from ..record.tensorboard import TBLogger
from ..report.plots import GradFlowSeries, gradflow_figure, save_figure
from .buffer import StatsBuffer
from .schedule import RecordSchedule

NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm,
               nn.LayerNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
FIGURE_FILE = "grad_flow.png"


def weight_params(model: nn.Module, norm_weights: bool = False,
                  biases: bool = False) -> List[Tuple[str, nn.Parameter]]:
    """The tensors whose gradient flow is shown, in registration order (the forward order of
    the zoo's sequential models). A weight is named by its module path, a bias by path + .bias."""
    chosen = []
    for path, mod in model.named_modules():
        if isinstance(mod, NORM_LAYERS) and not norm_weights:
            continue
        for pname, param in mod.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if pname == "weight":
                chosen.append((path, param))
            elif pname == "bias" and biases:
                chosen.append((f"{path}.bias", param))
    return chosen


def grad_abs_stats(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """(len(params), 2) tensor of mean |grad| and max |grad|, computed where the gradients are,
    without a host sync. A parameter with no gradient this step gives NaN."""
    rows = []
    for p in params:
        g = p.grad
        if g is None:
            rows.append(torch.full((2,), float("nan"), device=p.device))
            continue
        g = g.detach()
        rows.append(torch.stack([torch.linalg.vector_norm(g, 1, dtype=torch.float32) / g.numel(),
                                 torch.linalg.vector_norm(g, float("inf"), dtype=torch.float32)]))
    return torch.stack(rows)


def finite_abs(grad: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """|grad| without its non-finite entries, or None when nothing finite is left: a diverging
    run reaches the histogram before the loop notices, and TensorBoard refuses an empty one."""
    if grad is None:
        return None
    g = grad.detach().abs()
    finite = torch.isfinite(g)
    if bool(finite.all()):
        return g
    g = g[finite]
    return g if g.numel() else None


class GradFlow(Observer):
    """Records gradient flow on the schedule's steps; writes TensorBoard scalars
    (grad_flow/mean/<layer>, grad_flow/max/<layer>), and on the slower histogram interval |grad|
    histograms (grad_flow/hist/<layer>) and the figure (grad_flow/figure); the epoch's last
    record goes to metrics.json history ("grad_flow": {"step", "mean": {layer: v},
    "max": {layer: v}}) and the final one to grad_flow.png."""

    def __init__(self, model: nn.Module, schedule: RecordSchedule, tb: TBLogger, run_dir: Path,
                 norm_weights: bool = False, biases: bool = False) -> None:
        named = weight_params(model, norm_weights, biases)
        self.names = [n for n, _ in named]
        self.params = [p for _, p in named]
        self.schedule = schedule
        self.tb = tb
        self.run_dir = Path(run_dir)
        self.buffer = StatsBuffer("grad_flow", ("mean", "max"), schedule, tb)
        self.last: Optional[Dict[str, Any]] = None

    def after_backward(self, step: int, model: nn.Module, rec: SiteRecord) -> None:
        hist = self.schedule.hist_due(step)
        if not (hist or self.schedule.due(step)):
            return
        self.buffer.add(step, self.names, grad_abs_stats(self.params))
        if hist:
            x = self.schedule.tb_step(step)
            for name, p in zip(self.names, self.params):
                values = finite_abs(p.grad)
                if values is not None:
                    self.tb.writer.add_histogram(f"grad_flow/hist/{name}", values, x)

    def _flush(self) -> Optional[Dict[str, Any]]:
        newest = self.buffer.flush()
        if newest is not None:
            self.last = newest
        return newest

    def epoch_summary(self, epoch: int, step: int) -> Dict[str, Any]:
        newest = self._flush()
        if newest is None:
            return {}
        if self.schedule.hist_due(step):   # rendering costs ~0.2 s: on the histograms' interval
            fig = gradflow_figure([GradFlowSeries.from_record(f"epoch {epoch}", newest)],
                                  f"Gradient flow, epoch {epoch} (step {newest['step']})")
            self.tb.writer.add_figure("grad_flow/figure", fig, self.schedule.tb_step(newest["step"]))
        return {"grad_flow": newest}

    def state_dict(self) -> Dict[str, Any]:
        return {"buffer": self.buffer.state_dict(), "last": self.last}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.buffer.load_state_dict(state.get("buffer", {}))
        self.last = state.get("last")

    def on_train_end(self, result: Any) -> None:
        self._flush()  # a diverged run stops mid-epoch: its records never reached epoch_summary
        if self.last is not None:
            fig = gradflow_figure([GradFlowSeries.from_record(f"step {self.last['step']}", self.last)],
                                  f"Gradient flow at step {self.last['step']}")
            save_figure(fig, self.run_dir / FIGURE_FILE)
