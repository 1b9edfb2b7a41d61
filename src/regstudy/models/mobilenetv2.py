"""MobileNetV2 (Sandler et al. 2018), CIFAR variant.

The common CIFAR adaptation: 3x3 stride-1 stem with 32 channels and stride 1 instead of
2 in the (6,24,2,1) stage, so 32x32 inputs end at 4x4 rather than 1x1. Each inverted
residual block is 1x1 expand (t x) -> 3x3 depthwise (stride s) -> 1x1 linear projection;
stride-1 blocks add a shortcut (identity, or 1x1 conv+BN when the width changes).
1x1 head to 1280, global average pool, linear: 2,296,922 parameters for 10 classes.

Activation: the configured one (`model.activation`, relu in the YAML, as in the usual
CIFAR code) rather than the paper's ReLU6, so the activation study can swap it.
Normalization placement: bn_before_act is the published form (BN after every conv);
bn_after_act puts BN after each activation, so the linear projection has none; with
none the convs get biases. Dropout: "conv" after each block, "input", "fc" on the
pooled features (where the reference ImageNet model has its dropout).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import List, Tuple

from torch import nn

from .layers import ArchOptions, act_block
from .registry import register_model
from .residual import Residual, conv_bias, projection, split_at_sum
from .sites import LogitSite

# (expansion t, output channels c, blocks n, first stride s)
SETTINGS: Tuple[Tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


def inverted_residual(opts: ArchOptions, c_in: int, c_out: int, expansion: int,
                      stride: int) -> nn.Module:
    hidden = c_in * expansion
    bias = conv_bias(opts)
    before_sum, after_sum = split_at_sum(opts, c_out, activate=False)
    branch = nn.Sequential(
        nn.Conv2d(c_in, hidden, 1, bias=bias), *act_block(opts, hidden),
        nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=bias),
        *act_block(opts, hidden),
        nn.Conv2d(hidden, c_out, 1, bias=bias), *before_sum)
    if stride != 1:
        return nn.Sequential(*branch, *after_sum)
    shortcut = projection(opts, c_in, c_out, 1) if c_in != c_out else nn.Identity()
    return Residual(branch, shortcut, nn.Sequential(*after_sum))


class MobileNetV2(nn.Sequential):
    def __init__(self, opts: ArchOptions, in_channels: int, num_classes: int) -> None:
        stem = nn.Sequential(opts.dropout("input"),
                             nn.Conv2d(in_channels, STEM_CHANNELS, 3, padding=1,
                                       bias=conv_bias(opts)),
                             *act_block(opts, STEM_CHANNELS))
        blocks: List[nn.Module] = []
        c_in = STEM_CHANNELS
        for t, c, n, s in SETTINGS:
            for i in range(n):
                blocks.append(inverted_residual(opts, c_in, c, t, s if i == 0 else 1))
                c_in = c
        head = nn.Sequential(nn.Conv2d(c_in, HEAD_CHANNELS, 1, bias=conv_bias(opts)),
                             *act_block(opts, HEAD_CHANNELS),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), opts.dropout("fc"),
                             nn.Linear(HEAD_CHANNELS, num_classes), LogitSite())
        super().__init__(OrderedDict([("stem", stem), ("blocks", nn.Sequential(*blocks)),
                                      ("head", head)]))


@register_model("mobilenetv2")
def mobilenetv2(opts: ArchOptions, cfg, in_channels: int, num_classes: int,
                image_size: int) -> nn.Module:
    return MobileNetV2(opts, in_channels, num_classes)
