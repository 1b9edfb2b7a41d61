"""A standard small CNN, the kind regularization studies use on MNIST, Fashion-MNIST, CIFAR-10.

    conv3x3(width) -> [BN] -> act -> [dropout conv] -> maxpool 2
    conv3x3(2 width) -> [BN] -> act -> [dropout conv] -> maxpool 2
    flatten -> Linear(4 width) -> act -> [dropout fc] -> Linear(classes)

With width=32: 32 and 64 filters, 128 hidden units (28x28 input: 3136 -> 128 -> 10).
Every nonlinearity goes through `act_block`, so reg=bn_before_relu puts BN after each
conv (conv -> BN -> act; the hidden layer stays without, as in studies that switch
"BN after each conv") and reg=dropout places dropout where its `where` says.
"""

from __future__ import annotations

from torch import nn

from .layers import ArchOptions, act_block
from .registry import register_model
from .sites import LogitSite


class SmallCNN(nn.Sequential):
    def __init__(self, opts: ArchOptions, in_channels: int, num_classes: int, image_size: int,
                 width: int) -> None:
        c1, c2, hidden = width, 2 * width, 4 * width
        side = image_size // 4
        super().__init__(
            opts.dropout("input"),
            nn.Conv2d(in_channels, c1, 3, padding=1), *act_block(opts, c1, dropout_place="conv"),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), *act_block(opts, c2, dropout_place="conv"),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(c2 * side * side, hidden),
            *act_block(opts, hidden, dims=1, norm="none", dropout_place="fc"),
            nn.Linear(hidden, num_classes), LogitSite(),
        )


@register_model("smallcnn")
def smallcnn(opts: ArchOptions, cfg, in_channels: int, num_classes: int,
             image_size: int) -> nn.Module:
    return SmallCNN(opts, in_channels, num_classes, image_size, cfg.width)
