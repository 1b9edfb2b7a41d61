"""Model registry, after timm's `create_model`: one decorator per family, one entry point."""

from __future__ import annotations

from typing import Callable, Dict

from torch import nn

from .layers import ArchOptions, initialize

ModelFn = Callable[[ArchOptions, object, int, int, int], nn.Module]
_MODELS: Dict[str, ModelFn] = {}


def register_model(name: str) -> Callable[[ModelFn], ModelFn]:
    def deco(fn: ModelFn) -> ModelFn:
        if name in _MODELS:
            raise KeyError(f"model {name!r} registered twice")
        _MODELS[name] = fn
        return fn
    return deco


def available_models() -> list[str]:
    return sorted(_MODELS)


def build_model(cfg, in_channels: int, num_classes: int, image_size: int,
                opts: ArchOptions | None = None) -> nn.Module:
    """Build `cfg.name` for the data's shape; `opts` carries what the regularizers decided."""
    if cfg.name not in _MODELS:
        raise KeyError(f"model={cfg.name!r} is not one of {available_models()}")
    if opts is None:
        opts = ArchOptions(activation=cfg.activation, leaky_slope=cfg.leaky_slope,
                           norm=cfg.norm, init=cfg.init)
    model = _MODELS[cfg.name](opts, cfg, in_channels, num_classes, image_size)
    initialize(model, opts.init)
    return model
