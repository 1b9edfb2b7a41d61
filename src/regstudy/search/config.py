"""The sweeper's structured config (`hydra/sweeper=optuna`): typed, so a misspelt key fails.

Registered in Hydra's ConfigStore by the plugin module (hydra_plugins.regstudy_search), which
Hydra imports when it scans plugins, and by `register_plugin`, which regstudy calls itself:
Hydra's scan walks the `hydra_plugins` folders on sys.path, and a setuptools editable install
(its default mode) maps regstudy's modules through an import hook that the scan does not see.
Torch- and optuna-free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

SWEEPER_TARGET = "hydra_plugins.regstudy_search.optuna_sweeper.OptunaSweeper"


@dataclass
class OptunaSweeperConf:
    _target_: str = SWEEPER_TARGET
    # Trials in the study in total: re-running the command continues up to this many.
    n_trials: int = 20
    # Study name (several processes with the same name and storage share the study).
    study_name: str = "regstudy"
    # SQLAlchemy URL, journal:///path (or a path ending .log) for Optuna's journal file;
    # null = sqlite:///<hydra.sweep.dir>/optuna.db.
    storage: Optional[str] = None
    # tpe | random | grid | cmaes, with keyword options of the Optuna sampler.
    sampler: str = "tpe"
    sampler_options: Dict[str, Any] = field(default_factory=dict)
    seed: Optional[int] = 0
    # median | successive_halving | hyperband | none, with keyword options of the pruner.
    pruner: str = "median"
    pruner_options: Dict[str, Any] = field(default_factory=dict)
    # A metric of the run record (metrics.json), never a test metric; a list of metrics is a
    # multi-objective search ([best_val_error, train_seconds]: the Pareto front, no pruning).
    objective: Any = "best_val_acc"
    # maximize | minimize (a list: one per objective); null = each objective's natural direction.
    direction: Any = None
    # Trials in flight; null = the joblib launcher's n_jobs (submitit: array_parallelism), else 1.
    n_jobs: Optional[int] = None
    # slots: a new trial starts as soon as any ends; batch: n_jobs trials start and end together.
    schedule: str = "slots"
    # Stop asking for trials once more than this share of n_trials failed (1 = never).
    max_failure_rate: float = 1.0
    # Search space, key -> Hydra sweep expression (also accepted as plain overrides on the command line).
    params: Dict[str, Any] = field(default_factory=dict)
    # RDB storages: seconds between trial heartbeats; a trial silent for grace_period is failed.
    heartbeat_interval: int = 30
    grace_period: Optional[int] = None


def register_plugin() -> None:
    """Make `hydra/sweeper=optuna` available whatever the install mode: the config in Hydra's
    ConfigStore and the sweeper class in Hydra's plugin registry (its public `register`)."""
    from hydra.core.plugins import Plugins

    from hydra_plugins.regstudy_search.optuna_sweeper import OptunaSweeper

    register()
    Plugins.instance().register(OptunaSweeper)


def register() -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf,
                                 provider="regstudy")
