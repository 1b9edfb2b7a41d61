"""Registries of samplers and pruners by the names the config uses."""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Dict, Mapping, Optional

from .errors import SearchError
from .space import Space

SAMPLERS = ("tpe", "random", "grid", "cmaes", "qmc", "gp", "nsgaii")
# Optuna's sampler class of each name but grid and cmaes (built with extra arguments).
SAMPLER_CLASSES = {"tpe": "TPESampler", "random": "RandomSampler", "qmc": "QMCSampler",
                   "gp": "GPSampler", "nsgaii": "NSGAIISampler"}
PRUNERS = ("median", "successive_halving", "hyperband", "none")


def check_names(sampler: str, pruner: str) -> None:
    if sampler not in SAMPLERS:
        raise SearchError(f"hydra.sweeper.sampler={sampler}: choose one of {', '.join(SAMPLERS)}")
    if pruner not in PRUNERS:
        raise SearchError(f"hydra.sweeper.pruner={pruner}: choose one of {', '.join(PRUNERS)}")


def grid_of(space: Space) -> Dict[str, list]:
    """The grid sampler's values per parameter; continuous intervals cannot be a grid."""
    grid = {}
    for name, param in space.params.items():
        values = param.grid_values()
        if values is None:
            raise SearchError(f"hydra.sweeper.sampler=grid needs discrete values: {name} is an "
                              "interval; give choice(...) or range(...)")
        grid[name] = values
    return grid


def _construct(kind: str, name: str, factory: Callable[..., Any],
               options: Mapping[str, Any], **fixed: Any) -> Any:
    try:
        return factory(**fixed, **dict(options))
    except TypeError as err:
        raise SearchError(f"hydra.sweeper.{kind}_options for {name}: {err}") from err


def build_sampler(name: str, options: Mapping[str, Any], seed: Optional[int], space: Space):
    import optuna.samplers as S

    if name in SAMPLER_CLASSES:
        with warnings.catch_warnings():   # QMC and GP are "experimental" in some Optuna versions
            warnings.simplefilter("ignore", _experimental())
            return _construct("sampler", name, getattr(S, SAMPLER_CLASSES[name]), options,
                              seed=seed)
    if name == "grid":
        return _construct("sampler", name, S.GridSampler, options, search_space=grid_of(space),
                          seed=seed)
    try:
        import cmaes  # noqa: F401  (optuna's CmaEsSampler needs it)
    except ImportError as err:
        raise SearchError("hydra.sweeper.sampler=cmaes needs the cmaes package: "
                          "pip install cmaes") from err
    return _construct("sampler", name, S.CmaEsSampler, options, seed=seed)


def _experimental():
    import optuna

    return optuna.exceptions.ExperimentalWarning


def random_start_note(name: str, options: Mapping[str, Any], n_trials: int) -> Optional[str]:
    """A warning when TPE would never leave its random start-up phase: a user who asked for
    TPE should know that a search of n_trials <= n_startup_trials is a seeded random search."""
    if name != "tpe":
        return None
    import optuna.samplers as S

    default = inspect.signature(S.TPESampler).parameters["n_startup_trials"].default
    startup = int(options.get("n_startup_trials", default))
    if n_trials > startup:
        return None
    return (f"hydra.sweeper.n_trials={n_trials} is within TPE's {startup} random start-up "
            "trials: every trial is sampled at random (set "
            "+hydra.sweeper.sampler_options.n_startup_trials=K, K < n_trials, for a model-based "
            "search)")


def build_pruner(name: str, options: Mapping[str, Any], max_epochs: Optional[int] = None):
    """The pruner; Hyperband's max_resource defaults to the run's epochs when known."""
    import optuna.pruners as P

    if name == "median":
        return _construct("pruner", name, P.MedianPruner, options)
    if name == "successive_halving":
        return _construct("pruner", name, P.SuccessiveHalvingPruner, options)
    if name == "hyperband":
        opts = dict(options)
        if max_epochs and "max_resource" not in opts:
            opts["max_resource"] = max_epochs
        return _construct("pruner", name, P.HyperbandPruner, opts)
    return P.NopPruner()
