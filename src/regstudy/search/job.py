"""The trial's side of a search, inside the job: report each epoch to the study, stop when
its pruner says so. Works under every launcher because the job talks to the storage itself."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from ..observer import Observer, StopRun
from .objective import OBJECTIVES, Objective, row_value

log = logging.getLogger("regstudy")


class TrialReporter(Observer):
    """Reports the objective's per-epoch value as the trial's intermediate value (step = epoch)."""

    def __init__(self, trial, objective: Objective, pruner_name: str) -> None:
        self.trial, self.objective, self.pruner_name = trial, objective, pruner_name

    def on_epoch_end(self, row: Dict[str, Any]) -> None:
        value = row_value(self.objective, row)
        if value is None:
            return
        epoch = int(row["epoch"])
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            raise StopRun("pruned", f"{self.pruner_name} pruner stopped trial {self.trial.number} "
                                    f"after epoch {epoch} ({self.objective.per_epoch}={value:.6g})")


def connect(search, max_epochs: int) -> Optional[TrialReporter]:
    """Load the study and trial named by the job's `search` node, with the study's pruner."""
    import optuna

    from .algorithms import build_pruner
    from .optuna_study import PRUNER_ATTR, trial_id
    from .storage import open_storage

    storage = open_storage(search.storage)
    study = optuna.load_study(study_name=search.study, storage=storage)
    if len(study.directions) > 1:
        return None     # Optuna takes no intermediate values of multi-objective trials
    spec = study.user_attrs.get(PRUNER_ATTR) or {"name": "none", "options": {}}
    study.pruner = build_pruner(spec["name"], spec.get("options") or {}, max_epochs)
    trial = optuna.trial.Trial(study, trial_id(storage, study, int(search.trial)))
    return TrialReporter(trial, OBJECTIVES[(search.objective or "best_val_acc").split(",")[0]], spec["name"])


def trial_observers(cfg) -> List[Observer]:
    """[TrialReporter] when this run is a search trial, else []: optuna is imported only then."""
    search = cfg.get("search")
    if search is None or search.get("study") is None or search.get("trial") is None:
        return []
    reporter = connect(search, int(cfg.trainer.epochs))
    return [reporter] if reporter else []
