"""Regularizers: importing this package imports (and so registers) every module in it."""

import importlib
import pkgutil

from .base import Regularizer, available_regularizers, build_regularizers, register_regularizer

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Regularizer", "available_regularizers", "build_regularizers", "register_regularizer"]
