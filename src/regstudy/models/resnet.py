"""ResNet-18, CIFAR variant (He et al. 2016 as commonly adapted to 32x32 images).

3x3 stride-1 stem and no max-pool (the ImageNet 7x7/2 stem and pool would leave 8x8
features after the stem), four stages of BasicBlocks with `blocks_per_stage` blocks each
and widths width x (1, 2, 4, 8), stride 2 from the second stage on, 1x1 conv+BN
projection shortcuts where the shape changes, global average pool, linear:
11,173,962 parameters for 10 classes with the defaults (width 64, 2 blocks per stage).

Normalization placement (see `residual.split_at_sum`): bn_before_act is the published
form; with bn_after_act BN follows each activation (also after the sum), with none
there is no BN at all and the convolutions get biases instead. Dropout: "conv" after
each block, "input" on the image, "fc" on the pooled features.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import List

from torch import nn

from .layers import ArchOptions, act_block
from .registry import register_model
from .residual import Residual, conv_bias, projection, split_at_sum
from .sites import LogitSite

STAGE_WIDTH_MULTIPLIERS = (1, 2, 4, 8)


def conv3x3(opts: ArchOptions, c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=conv_bias(opts))


def basic_block(opts: ArchOptions, c_in: int, c_out: int, stride: int) -> Residual:
    """conv3x3 -> [BN] act [BN] -> conv3x3 -> [BN], plus the shortcut, then act [BN]."""
    before_sum, after_sum = split_at_sum(opts, c_out)
    branch = nn.Sequential(conv3x3(opts, c_in, c_out, stride), *act_block(opts, c_out),
                           conv3x3(opts, c_out, c_out), *before_sum)
    shortcut = (projection(opts, c_in, c_out, stride) if stride != 1 or c_in != c_out
                else nn.Identity())
    return Residual(branch, shortcut, nn.Sequential(*after_sum))


class ResNet(nn.Sequential):
    def __init__(self, opts: ArchOptions, in_channels: int, num_classes: int, width: int,
                 blocks_per_stage: int) -> None:
        stem = nn.Sequential(opts.dropout("input"), conv3x3(opts, in_channels, width),
                             *act_block(opts, width))
        parts = [("stem", stem)]
        c_in = width
        for i, mult in enumerate(STAGE_WIDTH_MULTIPLIERS):
            c_out, first_stride = width * mult, (1 if i == 0 else 2)
            blocks: List[nn.Module] = [basic_block(opts, c_in if b == 0 else c_out, c_out,
                                                   first_stride if b == 0 else 1)
                                       for b in range(blocks_per_stage)]
            parts.append((f"layer{i + 1}", nn.Sequential(*blocks)))
            c_in = c_out
        head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), opts.dropout("fc"),
                             nn.Linear(c_in, num_classes), LogitSite())
        super().__init__(OrderedDict(parts + [("head", head)]))


@register_model("resnet18")
def resnet18(opts: ArchOptions, cfg, in_channels: int, num_classes: int,
             image_size: int) -> nn.Module:
    if cfg.blocks_per_stage < 1:
        raise ValueError(f"model.blocks_per_stage={cfg.blocks_per_stage} must be >= 1 for resnet18")
    return ResNet(opts, in_channels, num_classes, cfg.width, cfg.blocks_per_stage)
