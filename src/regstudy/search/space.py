"""Hydra's sweep syntax -> a search space (and, lazily, Optuna distributions).

`interval(a, b)` -> float, `tag(log, interval(a, b))` -> log scale, `int(interval(a, b))` -> int,
`choice(...)` and comma lists -> categorical, `range(start, stop, step)` -> stepped values
(stop excluded, as in Python). Non-sweep overrides are fixed: they apply to every trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

from .errors import SearchError


@dataclass(frozen=True)
class Param:
    """One searched key: kind is float | int | categorical."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: Tuple[Any, ...] = ()

    def describe(self) -> Dict[str, Any]:
        """Plain-JSON description, stored in the study to compare searches of one study."""
        if self.kind == "categorical":
            return {"kind": self.kind, "choices": list(self.choices)}
        return {"kind": self.kind, "low": self.low, "high": self.high, "log": self.log,
                "step": self.step}

    def grid_values(self) -> List[Any] | None:
        """Every value of a discrete parameter; None for a continuous one."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.step is None:
            return None
        n = int(round((self.high - self.low) / self.step)) + 1
        return [self.low + i * self.step for i in range(n)]


@dataclass
class Space:
    params: Dict[str, Param] = field(default_factory=dict)
    fixed: List[str] = field(default_factory=list)   # key=value overrides of every trial

    def describe(self) -> Dict[str, Dict[str, Any]]:
        return {name: p.describe() for name, p in self.params.items()}


def _number(name: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SearchError(f"{name}: bounds must be numbers, got {value!r}")
    return value


def _interval(name: str, sweep) -> Param:
    low, high = _number(name, sweep.start), _number(name, sweep.end)
    log = "log" in sweep.tags
    if not low < high:
        raise SearchError(f"{name}: interval needs low < high, got ({low}, {high})")
    if log and low <= 0:
        raise SearchError(f"{name}: a log interval needs low > 0, got ({low}, {high})")
    kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
    return Param(name, kind, low, high, log=log)


def _range(name: str, sweep) -> Param:
    start, stop = _number(name, sweep.start), _number(name, sweep.stop)
    step = _number(name, sweep.step if sweep.step is not None else 1)
    if step <= 0 or not start < stop:
        raise SearchError(f"{name}: range needs start < stop and step > 0, got "
                          f"range({start}, {stop}, {step})")
    count = math.ceil((stop - start) / step - 1e-9)
    last = start + (count - 1) * step
    if all(isinstance(v, int) for v in (start, stop, step)):
        return Param(name, "int", start, last, step=step)
    return Param(name, "float", float(start), float(last), step=float(step))


def _choice(name: str, sweep) -> Param:
    values = tuple(sweep.list)
    for v in values:
        if not (v is None or isinstance(v, (str, int, float, bool))):
            raise SearchError(f"{name}: choice values must be numbers or strings, got {v!r}")
    if len(values) == 0:
        raise SearchError(f"{name}: empty choice")
    return Param(name, "categorical", choices=values)


def parse_space(arguments: Sequence[str]) -> Space:
    """Split `arguments` (key=value, Hydra syntax) into searched parameters and fixed overrides."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    space = Space()
    for arg in arguments:
        try:
            override = parser.parse_override(arg)
        except HydraException as err:
            raise SearchError(f"cannot parse {arg!r}: {str(err).splitlines()[0]}") from err
        name = override.get_key_element()
        # The last occurrence of a key wins: a value on the command line replaces a preset's space.
        space.params.pop(name, None)
        space.fixed = [f for f in space.fixed if f.split("=", 1)[0] != name]
        if not override.is_sweep_override():
            space.fixed.append(f"{name}={override.get_value_element_as_str()}")
            continue
        sweep = override.value()
        if isinstance(sweep, IntervalSweep):
            space.params[name] = _interval(name, sweep)
        elif isinstance(sweep, RangeSweep):
            space.params[name] = _range(name, sweep)
        elif isinstance(sweep, ChoiceSweep):
            space.params[name] = _choice(name, sweep)
        else:
            raise SearchError(f"{arg!r}: {type(sweep).__name__} is not a search space "
                              "(use interval, tag(log, interval), int(interval), choice, range)")
    if not space.params:
        raise SearchError("no search space: give at least one key as interval(...), choice(...), "
                          "range(...) or a comma list (or hydra.sweeper.params.KEY=...)")
    return space


def distribution(param: Param):
    """The Optuna distribution of one parameter (imports optuna)."""
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution)

    if param.kind == "categorical":
        return CategoricalDistribution(list(param.choices))
    if param.kind == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.log,
                               step=int(param.step or 1))
    return FloatDistribution(float(param.low), float(param.high), log=param.log, step=param.step)


def as_override(name: str, value: Any) -> str:
    """A sampled value as a Hydra override that parses back to the same value."""
    from hydra.core.override_parser.types import Override

    if isinstance(value, str):   # quoted: URLs, paths and names with any character
        return f"{name}='" + value.replace("'", "\\'") + "'"
    return f"{name}={Override._get_value_element_as_str(value)}"


def space_difference(stored: Dict[str, Any], current: Dict[str, Any]) -> str | None:
    """The first parameter whose definition differs between two described spaces, explained."""
    for name in sorted(set(stored) | set(current)):
        if name not in current:
            return f"{name} is searched in the stored study but not now"
        if name not in stored:
            return f"{name} is searched now but not in the stored study"
        if stored[name] != current[name]:
            return f"{name} was {stored[name]}, now {current[name]}"
    return None
