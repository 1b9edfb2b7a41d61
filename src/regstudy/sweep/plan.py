"""The sweep plan: the list of jobs a sweep will launch, written to sweep_plan.json (by
regstudy.record.run_record) by the SweepPlan callback before the first job starts.

A job that stops on a config or data error leaves no directory (`regstudy train` removes it), and
on a cluster a job may not have started yet; without the plan, `regstudy table` could not
tell such jobs from jobs never asked for. Written for Hydra's basic sweeper with the
default `hydra.sweep.subdir=${hydra.job.num}`, the only case where the job -> directory
mapping is known in advance.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, List, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ..record.run_record import write_plan

log = logging.getLogger("regstudy")
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


class SweepPlan(Callback):
    """Writes the sweep's plan (sweep_plan.json) at the start of a multirun, so `regstudy table`
    and the thread budget know every job before the first one starts."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            jobs = planned_jobs(config)
        except Exception as err:  # e.g. a glob sweep the parser cannot expand without a loader
            log.debug("no sweep plan: %s: %s", type(err).__name__, err)
            return
        if jobs is not None:
            write_plan(Path(config.hydra.sweep.dir), jobs)
