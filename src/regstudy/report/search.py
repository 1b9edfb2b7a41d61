"""An Optuna search's record (`search.json`, written by the search sweeper at the end of a
multirun; contract C2) read for the report: trials with their objective, pruned ones included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from ..record.run_record import SEARCH_FILE, RunRecord, load_search


@dataclass
class Search:
    path: Path
    data: Dict[str, Any]
    trials: List[Dict[str, Any]]    # number, state, value (objective; pruned: when stopped), ...
    problems: List[str]             # what could not be read


def find_searches(dirs: Iterable[Path]) -> List[Path]:
    """search.json files at or below the directories, in path order."""
    return sorted({p.resolve() for d in map(Path, dirs) if d.is_dir()
                   for p in d.rglob(SEARCH_FILE)})


def _trial_value(trial: Dict[str, Any], objective: str, base: Path) -> Optional[float]:
    """The trial's objective; for a pruned trial (Optuna keeps no value) the objective its run
    record holds at the time it was stopped."""
    value = trial.get("value")
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    if not trial.get("run_dir"):
        return None
    run_dir = Path(trial["run_dir"])
    value = RunRecord.load(run_dir if run_dir.is_absolute() else base / run_dir).get(objective)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def read_search(path: Path) -> Search:
    """The search record; a broken one gives a Search with no trials and says why."""
    data, problem = load_search(Path(path).parent)
    try:
        trials = list(data.get("trials") or [])
    except TypeError as err:
        problem = problem or f"{path}: unreadable ({type(err).__name__}: {err})"
    if problem:
        return Search(Path(path), {}, [], [problem])
    objective = str(data.get("objective") or "best_val_acc")
    out, problems = [], []
    for trial in trials:
        if not isinstance(trial, dict) or "number" not in trial:
            problems.append(f"{path}: a trial entry without a number was left out")
            continue
        out.append({**trial, "state": str(trial.get("state", "")).lower(),
                    "value": _trial_value(trial, objective, Path(path).parent)})
    return Search(Path(path), data, sorted(out, key=lambda t: t["number"]), problems)
