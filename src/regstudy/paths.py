"""Where the packaged Hydra configs live, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path


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
