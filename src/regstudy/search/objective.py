"""What a search optimizes: a metric of the run record (metrics.json), never a test metric.

Each objective names its natural direction and the per-epoch history column reported to
the pruner (None: nothing to prune on, the trial runs to its end).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .errors import SearchError


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str                 # natural direction: maximize | minimize
    per_epoch: Optional[str]       # history column reported each epoch

    @property
    def needs_validation(self) -> bool:
        """Measured on the validation split: a run with dataset.val_size=0 has no value."""
        return bool(self.per_epoch) and self.per_epoch.startswith("val_")


OBJECTIVES = {o.name: o for o in (
    Objective("best_val_acc", "maximize", "val_acc"),
    Objective("best_val_error", "minimize", "val_error"),
    Objective("best_val_loss", "minimize", "val_loss"),
    Objective("final_val_acc", "maximize", "val_acc"),
    Objective("final_train_loss", "minimize", "train_loss"),
    Objective("final_train_acc", "maximize", "train_acc"),
    Objective("epochs_run", "minimize", None),
    Objective("wall_time_s", "minimize", None),
    Objective("samples_per_s", "maximize", None),
    Objective("train_seconds", "minimize", None),
    Objective("num_params", "minimize", None),
)}
DIRECTIONS = ("maximize", "minimize")


def get_objective(name: str, direction: Optional[str]) -> tuple[Objective, str]:
    """The objective and the direction to use; SearchError for a name the record lacks."""
    if name.startswith(("test_", "last_test")) or name == "gap":
        raise SearchError(f"hydra.sweeper.objective={name}: the test set is never used to choose; "
                          f"use one of: {', '.join(OBJECTIVES)}")
    if name not in OBJECTIVES:
        raise SearchError(f"hydra.sweeper.objective={name} is not a metric of the run record; "
                          f"choose one of: {', '.join(OBJECTIVES)}")
    if direction is not None and direction not in DIRECTIONS:
        raise SearchError(f"hydra.sweeper.direction={direction}: choose maximize or minimize")
    obj = OBJECTIVES[name]
    return obj, direction or obj.direction


def get_objectives(names: Any, directions: Any) -> List[Tuple[Objective, str]]:
    """One or several objectives (a list: a multi-objective search) with their directions;
    `directions` is null, one direction, or a list as long as the objectives."""
    names = [names] if isinstance(names, str) else list(names or [])
    if not names:
        raise SearchError("hydra.sweeper.objective=[]: give at least one metric")
    if directions is None or isinstance(directions, str):
        directions = [directions] * len(names)
    directions = list(directions)
    if len(directions) != len(names):
        raise SearchError(f"hydra.sweeper.direction has {len(directions)} entries for "
                          f"{len(names)} objectives; give one per objective (or none)")
    return [get_objective(str(n), d) for n, d in zip(names, directions)]


def row_value(objective: Objective, row: Dict[str, Any]) -> Optional[float]:
    """The per-epoch value of `objective` in one history row (None when the row lacks it)."""
    if objective.per_epoch == "val_error":
        return None if row.get("val_acc") is None else 1.0 - row["val_acc"]
    value = row.get(objective.per_epoch) if objective.per_epoch else None
    return None if value is None else float(value)


def record_value(objective: Objective, record: Dict[str, Any]) -> Optional[float]:
    """The objective's value in a finished run record."""
    if objective.name == "best_val_error":
        acc = record.get("best_val_acc")
        return None if acc is None else 1.0 - acc
    value = record.get(objective.name)
    return None if value is None else float(value)
