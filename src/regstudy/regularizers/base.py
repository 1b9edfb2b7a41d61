"""Regularizer interface and registry.

A regularizer can act at four points, and the training loop only ever calls
these (it never names a regularizer):
  * `arch(opts)`            changes the architecture (dropout, batch-norm placement);
  * `check(model)`          rejects settings that do not fit the built model, before any work;
  * `weight_decay(model)`   asks the optimizer for decoupled/coupled weight decay on some params;
  * `penalty(model, rec)`   adds a term to the loss, given the forward pass's activation sites.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Tuple, Type

import torch
from torch import nn

from ..models.layers import ArchOptions
from ..models.sites import SiteRecord
from ..registry import Registry


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


_REGULARIZERS: Registry[Type[Regularizer]] = Registry("regularizer", "reg")


def register_regularizer(name: str) -> Callable[[Type[Regularizer]], Type[Regularizer]]:
    """Class decorator: the regularizer configured under `reg.<name>` (a name once only)."""
    def deco(cls: Type[Regularizer]) -> Type[Regularizer]:
        _REGULARIZERS.register(name)(cls)
        cls.name = name
        return cls
    return deco


def available_regularizers() -> List[str]:
    return sorted(_REGULARIZERS.names())


def build_regularizers(reg_cfg) -> List[Regularizer]:
    """One instance per non-null entry of `cfg.reg`, in a fixed (sorted) order."""
    regs = []
    for name in sorted(reg_cfg.keys()):
        node = reg_cfg[name]
        if node is None:
            continue
        regs.append(_REGULARIZERS.get(name)(node))
    return regs


