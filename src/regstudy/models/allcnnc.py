"""All-CNN-C (Springenberg et al. 2015, "Striving for Simplicity"): only convolutions.

Max-pooling is replaced by stride-2 3x3 convolutions and the classifier by a 1x1 conv
to the classes followed by global average pooling:

    dropout(input_dropout)
    conv3x3 96 -> conv3x3 96 -> conv3x3 96 stride 2 -> dropout(dropout)
    conv3x3 192 -> conv3x3 192 -> conv3x3 192 stride 2 -> dropout(dropout)
    conv3x3 192 valid -> conv1x1 192 -> conv1x1 classes -> global average pool

Every conv, the class conv included, is followed by the activation, as in the paper's
Table 2. 1,369,738 parameters for 10 classes. The dropout is part of the published
architecture, so it is a model setting (`model.input_dropout=0.2`, `model.dropout=0.5`
in the YAML; set both to 0 to remove it); `reg=dropout` adds more on top: "input",
"conv" (after every hidden conv's activation) and "fc" (before the class conv). The
first stage has `model.width` (96) filters, the rest twice that. No BN by default;
`opts.norm` puts it around every hidden conv (not the class conv).
"""

from __future__ import annotations

from typing import List

from torch import nn

from .layers import ArchOptions, act_block
from .registry import register_model
from .residual import conv_bias
from .sites import LogitSite


def dropout(p: float) -> List[nn.Module]:
    return [nn.Dropout(p)] if p > 0 else []


class AllCNNC(nn.Sequential):
    def __init__(self, opts: ArchOptions, in_channels: int, num_classes: int, width: int,
                 input_p: float, hidden_p: float) -> None:
        wide = 2 * width
        bias = conv_bias(opts)

        def conv(c_in: int, c_out: int, kernel: int = 3, stride: int = 1,
                 padding: int = 1) -> List[nn.Module]:
            return [nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=bias),
                    *act_block(opts, c_out, dropout_place="conv")]

        super().__init__(
            opts.dropout("input"), *dropout(input_p),
            *conv(in_channels, width), *conv(width, width), *conv(width, width, stride=2),
            *dropout(hidden_p),
            *conv(width, wide), *conv(wide, wide), *conv(wide, wide, stride=2),
            *dropout(hidden_p),
            *conv(wide, wide, padding=0), *conv(wide, wide, kernel=1, padding=0),
            opts.dropout("fc"),
            nn.Conv2d(wide, num_classes, 1), *act_block(opts, num_classes, norm="none"),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), LogitSite(),
        )


@register_model("allcnnc")
def allcnnc(opts: ArchOptions, cfg, in_channels: int, num_classes: int,
            image_size: int) -> nn.Module:
    return AllCNNC(opts, in_channels, num_classes, cfg.width, cfg.input_dropout, cfg.dropout)
