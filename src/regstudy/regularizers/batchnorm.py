"""Batch normalization as a regularizer: selects where BN sits relative to the activation."""

from __future__ import annotations

from dataclasses import replace

from ..models.layers import ArchOptions
from .base import Regularizer, register_regularizer


@register_regularizer("bn")
class BatchNorm(Regularizer):
    def arch(self, opts: ArchOptions) -> ArchOptions:
        return replace(opts, norm=self.cfg.placement)
