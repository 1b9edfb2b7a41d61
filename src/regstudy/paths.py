"""Where the packaged Hydra configs live, in a source checkout and in an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DATA_ROOT = "./data"


def data_root() -> str:
    """$REGSTUDY_DATA, or ./data when it is unset or empty (an empty variable counts as unset:
    `export REGSTUDY_DATA=` must not make runs read <cwd>/MNIST)."""
    return os.environ.get("REGSTUDY_DATA") or DEFAULT_DATA_ROOT


def config_dir() -> str:
    """`configs/` of a source checkout (editable installs, PYTHONPATH=src), else the packaged copy."""
    here = Path(__file__).resolve().parent
    checkout = here.parent.parent / "configs"
    if (checkout / "train.yaml").is_file():
        return str(checkout)
    packaged = here / "configs"
    if (packaged / "train.yaml").is_file():
        return str(packaged)
    import importlib.resources

    return str(importlib.resources.files("regstudy.configs"))
