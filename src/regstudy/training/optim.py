"""Optimizers and learning-rate schedules from config, with regularizer-requested weight decay.

Each is registered under the name the config uses (optim.name, sched.name); adding one is a
decorated function here, its name in config.choices and, when it has new settings, the schema.
"""

from __future__ import annotations

from typing import Callable, List, Optional

import torch
from torch import nn

from ..registry import Registry

OptimizerFn = Callable[[List[dict], object], torch.optim.Optimizer]
SchedulerFn = Callable[[object, torch.optim.Optimizer, int], Optional[object]]
_OPTIMIZERS: Registry[OptimizerFn] = Registry("optimizer", "optim.name")
_SCHEDULES: Registry[SchedulerFn] = Registry("schedule", "sched.name")
register_optimizer = _OPTIMIZERS.register
register_schedule = _SCHEDULES.register


def available_optimizers() -> List[str]:
    return list(_OPTIMIZERS.names())


def available_schedules() -> List[str]:
    return list(_SCHEDULES.names())


@register_optimizer("sgd")
def _sgd(groups: List[dict], cfg) -> torch.optim.Optimizer:
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


@register_optimizer("adam")
def _adam(groups: List[dict], cfg) -> torch.optim.Optimizer:
    return torch.optim.Adam(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)


@register_optimizer("adamw")
def _adamw(groups: List[dict], cfg) -> torch.optim.Optimizer:
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)


@register_optimizer("rmsprop")
def _rmsprop(groups: List[dict], cfg) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps,
                               momentum=cfg.momentum)


@register_optimizer("adagrad")
def _adagrad(groups: List[dict], cfg) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(groups, lr=cfg.lr, eps=cfg.eps)


@register_optimizer("adadelta")
def _adadelta(groups: List[dict], cfg) -> torch.optim.Optimizer:
    return torch.optim.Adadelta(groups, lr=cfg.lr, rho=cfg.rho, eps=cfg.eps)


@register_schedule("none")
def _constant(cfg, optimizer: torch.optim.Optimizer, epochs: int) -> None:
    return None


@register_schedule("step")
def _step(cfg, optimizer: torch.optim.Optimizer, epochs: int):
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.milestones), cfg.gamma)


@register_schedule("cosine")
def _cosine(cfg, optimizer: torch.optim.Optimizer, epochs: int):
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.t_max or epochs, cfg.eta_min)


def param_groups(model: nn.Module, regularizers, base_wd: float) -> List[dict]:
    """Split parameters by the weight decay each gets: the optimizer's own plus any L2 request."""
    extra = {}
    for reg in regularizers:
        req = reg.weight_decay(model)
        if req is not None:
            params, wd = req
            for p in params:
                extra[id(p)] = extra.get(id(p), 0.0) + wd
    groups: dict = {}
    for p in model.parameters():
        if not p.requires_grad:
            continue
        wd = base_wd + extra.get(id(p), 0.0)
        groups.setdefault(wd, []).append(p)
    return [{"params": ps, "weight_decay": wd} for wd, ps in groups.items()]


def build_optimizer(cfg, model: nn.Module, regularizers) -> torch.optim.Optimizer:
    """`cfg.name`'s optimizer over the model's parameters, grouped by their weight decay."""
    groups = param_groups(model, regularizers, cfg.weight_decay)
    return _OPTIMIZERS.get(cfg.name)(groups, cfg)


def build_scheduler(cfg, optimizer: torch.optim.Optimizer, epochs: int):
    """Per-epoch schedules; None when the learning rate is constant."""
    return _SCHEDULES.get(cfg.name)(cfg, optimizer, epochs)
