"""Dropout as a regularizer: an architecture switch (probability and placement)."""

from __future__ import annotations

from dataclasses import replace

from ..models.layers import ArchOptions
from .base import Regularizer, register_regularizer


@register_regularizer("dropout")
class Dropout(Regularizer):
    def arch(self, opts: ArchOptions) -> ArchOptions:
        return replace(opts, dropout_p=float(self.cfg.p), dropout_where=tuple(self.cfg.where))
