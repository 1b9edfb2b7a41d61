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
    launcher's budget, else OMP_NUM_THREADS, else every CPU this process may use."""
    for var in (JOB_THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return available_cpus()


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask: what SLURM or taskset granted)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


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
