"""Registries of Optuna samplers and pruners by the names the config uses
(hydra.sweeper.sampler, hydra.sweeper.pruner); optuna is imported only when one is built."""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Dict, Mapping, Optional

from ..registry import Registry
from .errors import SearchError
from .space import Space

# sampler(options, seed, space), pruner(options, max_epochs)
_SAMPLERS: Registry[Callable[..., Any]] = Registry("sampler", "hydra.sweeper.sampler")
_PRUNERS: Registry[Callable[..., Any]] = Registry("pruner", "hydra.sweeper.pruner")
register_sampler = _SAMPLERS.register
register_pruner = _PRUNERS.register


def check_names(sampler: str, pruner: str) -> None:
    """Refuse an unknown sampler or pruner before the study starts, listing the registered ones."""
    for kind, name, registry in (("sampler", sampler, _SAMPLERS), ("pruner", pruner, _PRUNERS)):
        if name not in registry:
            raise SearchError(f"hydra.sweeper.{kind}={name}: choose one of "
                              f"{', '.join(registry.names())}")


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


@register_sampler("tpe")
def _tpe(options: Mapping[str, Any], seed: Optional[int], space: Space):
    import optuna.samplers as S

    return _construct("sampler", "tpe", S.TPESampler, options, seed=seed)


@register_sampler("random")
def _random(options: Mapping[str, Any], seed: Optional[int], space: Space):
    import optuna.samplers as S

    return _construct("sampler", "random", S.RandomSampler, options, seed=seed)


@register_sampler("grid")
def _grid(options: Mapping[str, Any], seed: Optional[int], space: Space):
    import optuna.samplers as S

    return _construct("sampler", "grid", S.GridSampler, options, search_space=grid_of(space),
                      seed=seed)


@register_sampler("cmaes")
def _cmaes(options: Mapping[str, Any], seed: Optional[int], space: Space):
    import optuna.samplers as S

    try:
        import cmaes  # noqa: F401  (optuna's CmaEsSampler needs it)
    except ImportError as err:
        raise SearchError("hydra.sweeper.sampler=cmaes needs the cmaes package: "
                          "pip install cmaes") from err
    return _construct("sampler", "cmaes", S.CmaEsSampler, options, seed=seed)


def _quiet(name: str, factory: Callable[..., Any], options: Mapping[str, Any],
           seed: Optional[int]) -> Any:
    """QMC, GP and NSGA-II are "experimental" in some Optuna versions: no warning per trial."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _construct("sampler", name, factory, options, seed=seed)


@register_sampler("qmc")
def _qmc(options: Mapping[str, Any], seed: Optional[int], space: Space):
    import optuna.samplers as S

    return _quiet("qmc", S.QMCSampler, options, seed)


@register_sampler("gp")
def _gp(options: Mapping[str, Any], seed: Optional[int], space: Space):
    import optuna.samplers as S

    return _quiet("gp", S.GPSampler, options, seed)


@register_sampler("nsgaii")
def _nsgaii(options: Mapping[str, Any], seed: Optional[int], space: Space):
    import optuna.samplers as S

    return _quiet("nsgaii", S.NSGAIISampler, options, seed)


def build_sampler(name: str, options: Mapping[str, Any], seed: Optional[int], space: Space):
    """The sampler registered as `name` (check_names has vetted it)."""
    return _SAMPLERS.get(name)(options, seed, space)


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


@register_pruner("median")
def _median(options: Mapping[str, Any], max_epochs: Optional[int]):
    import optuna.pruners as P

    return _construct("pruner", "median", P.MedianPruner, options)


@register_pruner("successive_halving")
def _successive_halving(options: Mapping[str, Any], max_epochs: Optional[int]):
    import optuna.pruners as P

    return _construct("pruner", "successive_halving", P.SuccessiveHalvingPruner, options)


@register_pruner("hyperband")
def _hyperband(options: Mapping[str, Any], max_epochs: Optional[int]):
    """Hyperband's max_resource defaults to the run's epochs when known."""
    import optuna.pruners as P

    opts = dict(options)
    if max_epochs and "max_resource" not in opts:
        opts["max_resource"] = max_epochs
    return _construct("pruner", "hyperband", P.HyperbandPruner, opts)


@register_pruner("none")
def _nop(options: Mapping[str, Any], max_epochs: Optional[int]):
    import optuna.pruners as P

    return P.NopPruner()


def build_pruner(name: str, options: Mapping[str, Any], max_epochs: Optional[int] = None):
    """The pruner registered as `name` (check_names has vetted it)."""
    return _PRUNERS.get(name)(options, max_epochs)
