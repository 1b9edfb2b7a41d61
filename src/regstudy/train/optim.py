"""Optimizers and learning-rate schedules from config, with regularizer-requested weight decay."""

from __future__ import annotations

from typing import List

import torch
from torch import nn

from ..config.choices import OPTIMIZERS, SCHEDULES


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
    groups = param_groups(model, regularizers, cfg.weight_decay)
    name = cfg.name
    if name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    if name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps,
                                   momentum=cfg.momentum)
    if name == "adagrad":
        return torch.optim.Adagrad(groups, lr=cfg.lr, eps=cfg.eps)
    if name == "adadelta":
        return torch.optim.Adadelta(groups, lr=cfg.lr, rho=cfg.rho, eps=cfg.eps)
    raise ValueError(f"optim.name={name!r} is not one of {list(OPTIMIZERS)}")


def build_scheduler(cfg, optimizer: torch.optim.Optimizer, epochs: int):
    """Per-epoch schedules; None when the learning rate is constant."""
    if cfg.name == "none":
        return None
    if cfg.name == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(cfg.milestones), cfg.gamma)
    if cfg.name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.t_max or epochs, cfg.eta_min)
    raise ValueError(f"sched.name={cfg.name!r} is not one of {list(SCHEDULES)}")
