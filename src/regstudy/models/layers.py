"""Shared building blocks: activations, normalization placement, dropout and initialization.

Every model builds its nonlinearities through `act_block` so that normalization
placement (BN before or after the activation), dropout and the activation site
are decided in one place, not re-implemented per model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List

import torch
from torch import nn

from ..config.choices import INIT_SCHEMES, NORMS
from .sites import ActSite


class ScaledTanh(nn.Module):
    """LeCun's recommended sigmoid: 1.7159 * tanh(2x/3), so that f(+-1) = +-1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


def _activation_factories(slope: float) -> Dict[str, Callable[[], nn.Module]]:
    return {
        "relu": nn.ReLU,
        "leaky_relu": lambda: nn.LeakyReLU(slope),
        "elu": nn.ELU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "scaled_tanh": ScaledTanh,
    }


def make_activation(name: str, leaky_slope: float = 0.01) -> ActSite:
    """An activation module wrapped in its site (the only way models create activations)."""
    factories = _activation_factories(leaky_slope)
    if name not in factories:
        raise ValueError(f"model.activation={name!r} is not one of {sorted(factories)}")
    return ActSite(factories[name]())


@dataclass(frozen=True)
class ArchOptions:
    """What the model and the regularizers decided together about the architecture."""

    activation: str = "relu"
    leaky_slope: float = 0.01
    norm: str = "none"
    dropout_p: float = 0.0
    dropout_where: tuple = ()
    init: str = "default"

    def dropout(self, place: str) -> nn.Module:
        """Dropout for a placement if the run asked for it there, else identity."""
        if self.dropout_p > 0 and place in self.dropout_where:
            return nn.Dropout(self.dropout_p)
        return nn.Identity()


def norm_layer(channels: int, dims: int) -> nn.Module:
    return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)


def act_block(opts: ArchOptions, channels: int, dims: int = 2, norm: str | None = None,
              dropout_place: str | None = None) -> List[nn.Module]:
    """The modules that follow an affine layer: [BN] -> act -> [BN] -> [dropout].

    `norm` overrides the run's placement (e.g. VGG's entry block always has BN before).
    """
    placement = opts.norm if norm is None else norm
    if placement not in NORMS:
        raise ValueError(f"normalization placement {placement!r} is not one of {list(NORMS)}")
    layers: List[nn.Module] = []
    if placement == "bn_before_act":
        layers.append(norm_layer(channels, dims))
    layers.append(make_activation(opts.activation, opts.leaky_slope))
    if placement == "bn_after_act":
        layers.append(norm_layer(channels, dims))
    if dropout_place is not None:
        layers.append(opts.dropout(dropout_place))
    return [m for m in layers if not isinstance(m, nn.Identity)]


# --- initialization --------------------------------------------------------------------------


def initialize(model: nn.Module, scheme: str) -> None:
    """Re-initialize conv and linear weights (biases to zero) with config.choices.INIT_SCHEMES'
    `scheme`, unless it is PyTorch's default."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"model.init={scheme!r} is not one of {sorted(INIT_SCHEMES)}")
    if INIT_SCHEMES[scheme] is None:
        return
    fn_name, kwargs = INIT_SCHEMES[scheme]
    fn = getattr(nn.init, fn_name)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fn(m.weight, **kwargs)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
