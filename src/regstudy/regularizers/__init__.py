"""Regularizers: importing this package registers every one of them."""

from . import batchnorm, dropout, l2, psp  # noqa: F401  (registration)
from .base import Regularizer, available_regularizers, build_regularizers, register_regularizer

__all__ = ["Regularizer", "available_regularizers", "build_regularizers", "register_regularizer"]
