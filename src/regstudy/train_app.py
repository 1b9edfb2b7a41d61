"""The Hydra application behind `regstudy train` (torch is imported only inside the job)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from .config.schema import register_configs
from .paths import config_dir

register_configs()

HYDRA_ONLY = {".hydra", "train.log"}


def _discard_if_empty(run_dir: Path) -> None:
    """Remove a run directory that holds nothing but what Hydra wrote before the run aborted."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= HYDRA_ONLY:
        shutil.rmtree(run_dir, ignore_errors=True)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def train(cfg: DictConfig) -> float | None:
    from .train.run import RunAborted, train_run

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    try:
        record = train_run(cfg, run_dir, list(hc.overrides.task))
    except RunAborted as err:
        _discard_if_empty(run_dir)
        print(f"regstudy train: error: {err}", file=sys.stderr)
        sys.exit(2)
    return record.get("test_error")
