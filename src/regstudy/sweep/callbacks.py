"""Hydra callbacks of `regstudy train`, one job each: a thread budget per job, a check of the
launcher's requeue settings, and at sweep end the table and the HTML report (the sweep plan,
written at sweep start, is regstudy.sweep.plan.SweepPlan).

Configured under `hydra.callbacks` in configs/train.yaml. They import nothing heavy at
module level: Hydra instantiates callbacks for every run, `--cfg job` included.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from ..record.run_record import read_plan
from ..threads import JOB_THREADS_ENV, available_cpus, threads_per_job

log = logging.getLogger("regstudy")

TABLE_FILES = {"markdown": "table.md", "csv": "table.csv"}
REPORT_FILE = "report.html"


class ThreadBudget(Callback):
    """Resolves `trainer.threads=0` (auto) for parallel launchers (joblib: CPUs / parallel jobs;
    submitit: cpus_per_task) by setting torch's threads in the process that runs the job;
    train_run then records the number in effect in the run's config."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        os.environ.pop(JOB_THREADS_ENV, None)
        if config.get("trainer", {}).get("threads", 0):
            return  # set explicitly: train_run applies it (and records it)
        cpus = available_cpus()
        plan = read_plan(Path(config.hydra.sweep.dir))
        threads = threads_per_job(config.hydra.launcher, cpus, len(plan) if plan else None)
        if threads is None:
            return
        os.environ[JOB_THREADS_ENV] = str(threads)   # train_run applies and records it
        log.info("torch threads for this job: %d (%d CPUs, launcher %s)", threads, cpus,
                 config.hydra.launcher.get("_target_", "?").rsplit(".", 1)[-1])


def timeout_requeue_problem(launcher: Any) -> Optional[str]:
    """Why SLURM time limits would not requeue under this `hydra.launcher` node, or None.
    submitit counts a USR2 near the end of `timeout_min` (any USR2 when timeout_min <= 10) as a
    time-out and requeues only `max_num_timeout` of them; the plugin's default is 0."""
    if not str(launcher.get("_target_", "")).endswith("SlurmLauncher"):
        return None
    if int(launcher.get("max_num_timeout") or 0) > 0:
        return None
    return ("hydra.launcher.max_num_timeout=0: a job that reaches its time limit "
            f"(timeout_min={launcher.get('timeout_min')}) is not requeued and stops "
            "`interrupted`; set hydra.launcher.max_num_timeout=5 or use hydra/launcher=slurm")


class LauncherCheck(Callback):
    """Warns once per sweep about launcher settings that lose work (SLURM time-outs)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        problem = timeout_requeue_problem(config.hydra.launcher)
        if problem:
            log.warning(problem)


class SweepTable(Callback):
    """Writes table.md and table.csv (what `regstudy table SWEEP_DIR` prints) into the sweep dir.

    Hydra calls `on_multirun_end` only when every job returned; after a failed job run
    `regstudy table` on the directory, which lists failed, diverged and killed runs as such,
    and (from the plan written at the start) jobs that left no directory at all."""

    def __init__(self, metric: str = "test_error", baseline: Optional[str] = None) -> None:
        self.metric = metric
        self.baseline = baseline

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from ..report.render import render
        from ..report.table import BaselineError

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            for fmt, name in TABLE_FILES.items():
                try:
                    text = render([sweep_dir], self.metric, self.baseline, fmt)
                except BaselineError:  # e.g. a sweep over seeds only: nothing to compare with
                    text = render([sweep_dir], self.metric, None, fmt)
                (sweep_dir / name).write_text(text)
        except Exception as err:  # the runs are on disk: a table problem must not fail the sweep
            log.warning("could not write the sweep table (%s: %s); run: regstudy table %s",
                        type(err).__name__, err, sweep_dir)
            return
        log.info("sweep table: %s", sweep_dir / TABLE_FILES["markdown"])


class SweepReport(Callback):
    """Writes report.html (`regstudy report SWEEP_DIR`) into the sweep dir at sweep end; its
    metric and baseline default to the table's (configs/train.yaml), so
    `hydra.callbacks.sweep_table.metric=...` sets both."""

    def __init__(self, metric: str = "test_error", baseline: Optional[str] = None) -> None:
        self.metric = metric
        self.baseline = baseline

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.write(Path(config.hydra.sweep.dir))

    def write(self, sweep_dir: Path) -> None:
        """The HTML report; a failure is logged, never raised (the runs are on disk)."""
        try:
            from ..report.page import write_report

            path = write_report([sweep_dir], sweep_dir / REPORT_FILE, self.metric, self.baseline)
        except Exception as err:
            log.warning("could not write the sweep report (%s: %s); run: regstudy report %s",
                        type(err).__name__, err, sweep_dir)
            return
        log.info("sweep report: %s", path)
