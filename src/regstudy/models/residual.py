"""Residual connections with the run's normalization placement.

A residual block ends `branch + shortcut -> act`. Where BN sits around that sum is
the one thing `act_block` cannot decide alone: BN-before-activation belongs on the
branch, before the addition (He et al.'s ResNet), while the activation and any
BN-after-activation come after it. ResNet, MobileNetV2 and the residual VGG share
this split, so each normalization placement means the same thing in all of them.
"""

from __future__ import annotations

from typing import List, Tuple

import torch
from torch import nn

from .layers import ArchOptions, act_block, norm_layer


def split_at_sum(opts: ArchOptions, channels: int, activate: bool = True,
                 dropout_place: str | None = "conv") -> Tuple[List[nn.Module], List[nn.Module]]:
    """(modules ending the branch before the sum, modules after the sum).

    `activate=False` is MobileNetV2's linear bottleneck: no activation after the sum,
    hence nothing for BN-after-activation to follow either.
    """
    before = [norm_layer(channels, 2)] if opts.norm == "bn_before_act" else []
    if not activate:
        drop = opts.dropout(dropout_place) if dropout_place else nn.Identity()
        return before, ([] if isinstance(drop, nn.Identity) else [drop])
    after_norm = "bn_after_act" if opts.norm == "bn_after_act" else "none"
    return before, act_block(opts, channels, norm=after_norm, dropout_place=dropout_place)


def conv_bias(opts: ArchOptions) -> bool:
    """A conv needs its own bias unless a BN (whose shift replaces it) follows directly."""
    return opts.norm != "bn_before_act"


def projection(opts: ArchOptions, c_in: int, c_out: int, stride: int) -> nn.Module:
    """1x1 conv shortcut (plus BN when the branch normalizes before the sum)."""
    layers: List[nn.Module] = [nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)]
    if opts.norm == "bn_before_act":
        layers.append(norm_layer(c_out, 2))
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """`after(branch(x) + shortcut(x))`."""

    def __init__(self, branch: nn.Module, shortcut: nn.Module, after: nn.Module) -> None:
        super().__init__()
        self.branch = branch
        self.shortcut = shortcut
        self.after = after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(self.branch(x) + self.shortcut(x))
