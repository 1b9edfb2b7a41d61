"""The list of jobs a sweep will launch, written before the first job starts.

A job that stops on a config or data error leaves no directory (train_app removes it), and
on a cluster a job may not have started yet; without the plan, `regstudy table` could not
tell such jobs from jobs never asked for. Written for Hydra's basic sweeper with the
default `hydra.sweep.subdir=${hydra.job.num}`, the only case where the job -> directory
mapping is known in advance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional

if TYPE_CHECKING:
    from omegaconf import DictConfig

# Torch-, pandas- and omegaconf-free at import: `regstudy table` reads plans too.
PLAN_FILE = "sweep_plan.json"
JOB_NUM_SUBDIR = "${hydra.job.num}"


def planned_jobs(config: DictConfig) -> Optional[List[List[str]]]:
    """Each job's overrides in job-number order, exactly as the basic sweeper expands them;
    None where the sweeper or the sub-directory naming is another one."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    hydra_cfg = config.hydra
    if not str(hydra_cfg.sweeper.get("_target_", "")).endswith("BasicSweeper"):
        return None
    if OmegaConf.to_container(hydra_cfg.sweep, resolve=False).get("subdir") != JOB_NUM_SUBDIR:
        return None
    params = hydra_cfg.sweeper.get("params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()] + list(hydra_cfg.overrides.task)
    parsed = OverridesParser.create().parse_overrides(arguments)
    batches = BasicSweeper.split_arguments(parsed, max_batch_size=None)
    return [list(job) for batch in batches for job in batch]


def write_plan(sweep_dir: Path, jobs: List[List[str]]) -> Path:
    path = Path(sweep_dir) / PLAN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"jobs": [{"num": i, "subdir": str(i), "overrides": ov}
                                         for i, ov in enumerate(jobs)]}, indent=1) + "\n")
    return path


def read_plan(sweep_dir: Path) -> Optional[List[Dict[str, Any]]]:
    """The jobs of the plan in `sweep_dir` (num, subdir, overrides); None without a readable one."""
    try:
        jobs = json.loads((Path(sweep_dir) / PLAN_FILE).read_text())["jobs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return jobs if isinstance(jobs, list) else None
