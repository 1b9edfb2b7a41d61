"""One way to compose a training config outside a Hydra job (probe, benchmarks, tests).

Hydra's compose API wants the schema registered and the config folder initialised; this does
both, so every caller gets exactly what `regstudy train OVERRIDES` would run.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

from omegaconf import DictConfig

from ..paths import config_dir
from .schema import register_configs


@contextmanager
def hydra_configs(job_name: str = "regstudy") -> Iterator[None]:
    """Hydra's global state set up once for several `hydra.compose` calls (a study composes
    ten or more configs; initialising for each would dominate)."""
    from hydra import initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3", job_name=job_name):
        yield


def compose(overrides: Sequence[str] = (), config_name: str = "train",
            job_name: str = "regstudy", return_hydra_config: bool = False) -> DictConfig:
    """The config `regstudy train OVERRIDES` would run (Hydra errors propagate unchanged)."""
    from hydra import compose as hydra_compose

    with hydra_configs(job_name):
        return hydra_compose(config_name=config_name, overrides=list(overrides),
                             return_hydra_config=return_hydra_config)
