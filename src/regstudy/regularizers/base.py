"""Regularizer interface and registry.

A regularizer can act at three points, and the training loop only ever calls
these (it never names a regularizer):
  * `arch(opts)`            changes the architecture (dropout, batch-norm placement);
  * `check(model)`          rejects settings that do not fit the built model, before any work;
  * `weight_decay(model)`   asks the optimizer for decoupled/coupled weight decay on some params;
  * `penalty(model, rec)`   adds a term to the loss, given the forward pass's activation sites.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn

from ..models.layers import ArchOptions
from ..models.sites import SiteRecord


class Regularizer:
    name: str = ""
    # True when `penalty` reads the activation sites (the loop then records them).
    needs_sites: bool = False

    def __init__(self, cfg) -> None:
        self.cfg = cfg

    def arch(self, opts: ArchOptions) -> ArchOptions:
        return opts

    def check(self, model: nn.Module) -> None:
        """Raise ValueError when the settings do not fit `model`: before training, not at step 1."""

    def weight_decay(self, model: nn.Module) -> Optional[Tuple[List[nn.Parameter], float]]:
        return None

    def penalty(self, model: nn.Module, rec: SiteRecord) -> Optional[torch.Tensor]:
        return None


_REGULARIZERS: Dict[str, Callable[..., Regularizer]] = {}


def register_regularizer(name: str):
    def deco(cls):
        cls.name = name
        _REGULARIZERS[name] = cls
        return cls
    return deco


def available_regularizers() -> List[str]:
    return sorted(_REGULARIZERS)


def build_regularizers(reg_cfg) -> List[Regularizer]:
    """One instance per non-null entry of `cfg.reg`, in a fixed (sorted) order."""
    regs = []
    for name in sorted(reg_cfg.keys()):
        node = reg_cfg[name]
        if node is None:
            continue
        if name not in _REGULARIZERS:
            raise KeyError(f"reg.{name} has no implementation; known: {available_regularizers()}")
        regs.append(_REGULARIZERS[name](node))
    return regs


