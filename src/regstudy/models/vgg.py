"""VGG_08 / VGG_38 of the Edinburgh MLP coursework (CIFAR-100, 32 filters everywhere).

The coursework uses them to show the vanishing gradient: VGG_38 without batch norm
stays at chance while VGG_08 and BN-VGG_38 learn. The layout follows its framework:

    entry      conv3x3 (no bias) -> BN -> act          (this BN is in every variant)
    3 stages   blocks_per_stage x [conv3x3 -> act -> conv3x3 -> act]     (no bias)
               reduction: conv3x3 (bias) -> act -> avgpool 2x2 -> conv3x3 (bias) -> act
    head       global average pool -> Linear(width -> classes)

vgg08: blocks_per_stage=0 (7 conv + 1 FC); vgg38: 5 (37 conv + 1 FC); depth is
1 + 3 * (2 * blocks_per_stage + 2) convolutions, so other depths are one override away.
`opts.norm` places BN on every conv after the entry block. `model.residual=true` adds
an identity skip around each processing block, summed before its last activation.
Dropout: "input" on the image, "conv" after every conv's activation, "fc" on the
pooled features entering the classifier (the net has no hidden fully-connected layer).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import List

from torch import nn

from .layers import ArchOptions, act_block
from .registry import register_model
from .residual import Residual, split_at_sum
from .sites import LogitSite

STAGES = 3


def conv3x3(c_in: int, c_out: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1, bias=bias)


def processing_block(opts: ArchOptions, width: int, residual: bool) -> nn.Module:
    first = [conv3x3(width, width, bias=False), *act_block(opts, width, dropout_place="conv")]
    if not residual:
        return nn.Sequential(*first, conv3x3(width, width, bias=False),
                             *act_block(opts, width, dropout_place="conv"))
    before_sum, after_sum = split_at_sum(opts, width)
    return Residual(nn.Sequential(*first, conv3x3(width, width, bias=False), *before_sum),
                    nn.Identity(), nn.Sequential(*after_sum))


def reduction_block(opts: ArchOptions, width: int) -> nn.Sequential:
    def conv_act() -> List[nn.Module]:
        return [conv3x3(width, width, bias=True), *act_block(opts, width, dropout_place="conv")]
    return nn.Sequential(*conv_act(), nn.AvgPool2d(2), *conv_act())


def stage(opts: ArchOptions, width: int, blocks: int, residual: bool) -> nn.Sequential:
    layers: List[nn.Module] = [processing_block(opts, width, residual) for _ in range(blocks)]
    return nn.Sequential(*layers, reduction_block(opts, width))


class CourseworkVGG(nn.Sequential):
    def __init__(self, opts: ArchOptions, in_channels: int, num_classes: int, width: int,
                 blocks_per_stage: int, residual: bool) -> None:
        entry = nn.Sequential(opts.dropout("input"), conv3x3(in_channels, width, bias=False),
                              *act_block(opts, width, norm="bn_before_act", dropout_place="conv"))
        head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), opts.dropout("fc"),
                             nn.Linear(width, num_classes), LogitSite())
        parts = [("entry", entry)]
        parts += [(f"stage{i + 1}", stage(opts, width, blocks_per_stage, residual))
                  for i in range(STAGES)]
        super().__init__(OrderedDict(parts + [("head", head)]))


def _build(opts: ArchOptions, cfg, in_channels: int, num_classes: int,
           image_size: int) -> nn.Module:
    if cfg.blocks_per_stage < 0:
        raise ValueError(f"model.blocks_per_stage={cfg.blocks_per_stage} must be >= 0")
    return CourseworkVGG(opts, in_channels, num_classes, cfg.width, cfg.blocks_per_stage,
                         cfg.residual)


# Both names build from the config's depth; the YAMLs fix blocks_per_stage to 0 and 5.
register_model("vgg08")(_build)
register_model("vgg38")(_build)
