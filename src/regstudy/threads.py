"""How many torch threads each job of a sweep may use, so parallel jobs do not oversubscribe.

Torch starts as many intra-op threads as the machine has cores; two jobs side by side then
fight over every core and both run slower than one alone. The budget depends only on the
launcher's config, so it is a pure function here and applied once per job.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

JOB_THREADS_ENV = "REGSTUDY_JOB_THREADS"   # a parallel launcher's per-job budget (ThreadBudget)


def auto_threads() -> int:
    """What `trainer.threads=0` means, from this process's surroundings only (never from torch's
    current setting, which an earlier run in the same process may have changed): the parallel
    launcher's budget, else OMP_NUM_THREADS, else every CPU this process may use (under SLURM:
    of its allocation)."""
    for var in (JOB_THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return available_cpus()


def available_cpus() -> int:
    """CPUs this process may run on: the affinity mask (what taskset or a binding scheduler
    granted), and inside a SLURM job no more than its allocation, which clusters that do not
    bind CPUs (TaskPlugin=task/none) leave out of the mask."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cpus = os.cpu_count() or 1
    allocated = slurm_cpus()
    return min(cpus, allocated) if allocated else cpus


def slurm_cpus() -> Optional[int]:
    """CPUs of this task's SLURM allocation: SLURM_CPUS_PER_TASK, else the job's CPUs on this
    node (SLURM_CPUS_ON_NODE) over its tasks on this node; None outside a SLURM job."""
    if "SLURM_JOB_ID" not in os.environ:
        return None
    per_task = _leading_int(os.environ.get("SLURM_CPUS_PER_TASK"))
    if per_task:
        return per_task
    on_node = _leading_int(os.environ.get("SLURM_CPUS_ON_NODE"))
    tasks = _leading_int(os.environ.get("SLURM_NTASKS_PER_NODE")
                         or os.environ.get("SLURM_TASKS_PER_NODE")) or 1
    return max(1, on_node // tasks) if on_node else None


def _leading_int(value: Optional[str]) -> int:
    """The number a SLURM variable starts with ("2(x3)" -> 2); 0 when there is none."""
    digits = ""
    for ch in (value or "").strip():
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


def joblib_workers(n_jobs: int, cpus: int) -> int:
    """joblib's reading of n_jobs: -1 = every CPU, -2 = all but one, ..."""
    return max(1, n_jobs if n_jobs > 0 else cpus + 1 + n_jobs)


def threads_per_job(launcher: Mapping[str, Any], cpus: int,
                    sweep_jobs: Optional[int] = None) -> Optional[int]:
    """Torch threads for one job under `launcher` (Hydra's `hydra.launcher` node), or None to
    leave torch's default (sequential launchers: one job owns the machine). `sweep_jobs`, when
    known, caps the jobs running at once: 3 jobs on 16 CPUs get 5 threads each, not 1."""
    target = str(launcher.get("_target_", ""))
    if "joblib" in target:
        workers = joblib_workers(int(launcher.get("n_jobs") or 1), cpus)
        return max(1, cpus // min(workers, sweep_jobs or workers))
    if "submitit" in target and launcher.get("cpus_per_task"):
        return int(launcher["cpus_per_task"])
    return None
