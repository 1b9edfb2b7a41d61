"""regstudy: a PyTorch experiment runner for regularization studies."""

__version__ = "0.1.0"
