"""regstudy: a PyTorch experiment runner for regularization studies.

From Python: `regstudy.train(overrides, run_dir)` trains one run and returns its
`RunRecord`; `regstudy.load(dir)` gives the runs under a directory as a pandas DataFrame
(see regstudy.api). They are imported on first use, so `import regstudy` loads no torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["train", "load", "RunRecord", "__version__"]

_LAZY = {"train": "regstudy.api", "load": "regstudy.api",
         "RunRecord": "regstudy.record.run_record"}


def __getattr__(name: str) -> Any:
    """`regstudy.train`, `regstudy.load`, `regstudy.RunRecord`, imported when first used."""
    if name not in _LAZY:
        raise AttributeError(f"module 'regstudy' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted({*globals(), *_LAZY})
