"""L2 regularization: strength/2 * ||theta||^2 in the loss, or the optimizer's weight_decay."""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import nn

from .base import Regularizer, register_regularizer


def l2_params(model: nn.Module, exclude_bias_and_norm: bool) -> List[nn.Parameter]:
    """Parameters L2 applies to; biases and norm affine parameters are the 1-d tensors."""
    return [p for p in model.parameters()
            if p.requires_grad and not (exclude_bias_and_norm and p.dim() <= 1)]


@register_regularizer("l2")
class L2(Regularizer):
    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._params: List[nn.Parameter] | None = None

    def weight_decay(self, model: nn.Module) -> Optional[Tuple[List[nn.Parameter], float]]:
        if self.cfg.mode != "weight_decay":
            return None
        return l2_params(model, self.cfg.exclude_bias_and_norm), float(self.cfg.strength)

    def penalty(self, model: nn.Module, rec) -> Optional[torch.Tensor]:
        if self.cfg.mode != "penalty" or self.cfg.strength == 0:
            return None
        if self._params is None:
            self._params = l2_params(model, self.cfg.exclude_bias_and_norm)
        sq = torch._foreach_norm(self._params)
        return 0.5 * self.cfg.strength * torch.stack(sq).pow(2).sum()
