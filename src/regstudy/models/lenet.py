"""LeNet5 in the two forms the literature gives that name."""

from __future__ import annotations

from torch import nn

from .layers import ArchOptions, act_block
from .registry import register_model
from .sites import LogitSite

# (conv1 channels, conv2 channels, hidden fully-connected widths, conv1 padding)
VARIANTS = {
    "classic": (6, 16, (120, 84), 2),   # LeCun et al. 1998, 28x28 input padded to 32x32
    "caffe": (20, 50, (500,), 0),       # Caffe's LeNet, used by the PSP paper's code
}


class LeNet5(nn.Module):
    def __init__(self, opts: ArchOptions, variant: str, in_channels: int, num_classes: int,
                 image_size: int) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"model.variant={variant!r} is not one of {sorted(VARIANTS)}")
        c1, c2, hidden, pad = VARIANTS[variant]
        side = ((image_size + 2 * pad - 4) // 2 - 4) // 2
        self.features = nn.Sequential(
            opts.dropout("input"),
            nn.Conv2d(in_channels, c1, 5, padding=pad), *act_block(opts, c1, dropout_place="conv"),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5), *act_block(opts, c2, dropout_place="conv"),
            nn.MaxPool2d(2),
        )
        layers: list[nn.Module] = [nn.Flatten()]
        width = c2 * side * side
        for h in hidden:
            layers += [nn.Linear(width, h), *act_block(opts, h, dims=1, dropout_place="fc")]
            width = h
        layers += [nn.Linear(width, num_classes), LogitSite()]
        self.classifier = nn.Sequential(*layers)

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model("lenet5")
def lenet5(opts: ArchOptions, cfg, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    return LeNet5(opts, cfg.variant, in_channels, num_classes, image_size)
