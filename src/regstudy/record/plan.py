"""sweep_plan.json: the jobs a sweep will launch, written before the first job starts.

A job that stops on a config or data error leaves no directory (train_app removes it), and
on a cluster a job may not have started yet; without the plan, `regstudy table` could not
tell such jobs from jobs never asked for. This module owns the file's format: the sweep
callbacks write it (regstudy.sweep.plan expands the jobs), the report and the thread budget
read it. Torch-, pandas- and omegaconf-free: `regstudy table` reads plans too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional

PLAN_FILE = "sweep_plan.json"


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
