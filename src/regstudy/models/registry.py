"""Model registry, after timm's `create_model`: one decorator per family, one entry point."""

from __future__ import annotations

from typing import Callable

from torch import nn

from ..registry import Registry
from .layers import ArchOptions, initialize

ModelFn = Callable[[ArchOptions, object, int, int, int], nn.Module]
_MODELS: Registry[ModelFn] = Registry("model", "model.name")


def register_model(name: str) -> Callable[[ModelFn], ModelFn]:
    """Decorator: `fn(opts, cfg, in_channels, num_classes, image_size)` builds model `name`."""
    return _MODELS.register(name)


def available_models() -> list[str]:
    return sorted(_MODELS.names())


def build_model(cfg, in_channels: int, num_classes: int, image_size: int,
                opts: ArchOptions | None = None) -> nn.Module:
    """Build `cfg.name` for the data's shape; `opts` carries what the regularizers decided."""
    build = _MODELS.get(cfg.name)
    if opts is None:
        opts = ArchOptions(activation=cfg.activation, leaky_slope=cfg.leaky_slope,
                           norm=cfg.norm, init=cfg.init)
    model = build(opts, cfg, in_channels, num_classes, image_size)
    initialize(model, opts.init)
    return model
