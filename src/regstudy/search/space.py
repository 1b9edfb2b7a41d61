"""Hydra's sweep syntax -> a search space (and, lazily, Optuna distributions).

`interval(a, b)` -> float, `tag(log, interval(a, b))` -> log scale, `int(interval(a, b))` -> int,
`choice(...)` and comma lists -> categorical, `range(start, stop, step)` -> stepped values
(stop excluded, as in Python). Non-sweep overrides are fixed: they apply to every trial.

Stepped ranges are computed in decimal, so `range(0, 1, 0.3)` is 0, 0.3, 0.6, 0.9 for every
sampler (a binary-float end point of 0.8999999999999999 made Optuna trim TPE's range to 0.6
while the grid offered 0.9), and a sampled 3 * 0.3 is recorded as 0.9. Sweep functions whose
order or expansion means nothing to a search (shuffle, sort, glob) are refused.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
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
    combinations: bool = False     # choices are lists ("[l2,dropout]" to Optuna), e.g. of reg

    @property
    def members(self) -> Dict[str, Tuple[str, ...]]:
        """A combination parameter's choices: Optuna's value -> the list's members."""
        return {c: tuple(m for m in c[1:-1].split(",") if m) for c in self.choices} \
            if self.combinations else {}

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
        if self.kind == "int":
            return [self.low + i * self.step for i in range(n)]
        low, step = Decimal(repr(self.low)), Decimal(repr(self.step))
        return [float(low + i * step) for i in range(n)]

    def clean(self, value: Any) -> Any:
        """A sampled stepped float as the decimal value it stands for (3 * 0.3 -> 0.9); a
        sampled combination as its list."""
        if self.combinations and value in self.members:
            return list(self.members[value])
        if self.kind != "float" or self.step is None or not isinstance(value, float):
            return value
        return min(self.grid_values(), key=lambda v: abs(v - value))


@dataclass
class Space:
    params: Dict[str, Param] = field(default_factory=dict)
    fixed: List[str] = field(default_factory=list)   # key=value overrides of every trial

    def describe(self) -> Dict[str, Dict[str, Any]]:
        return {name: p.describe() for name, p in self.params.items()}

    def distributions(self) -> Dict[str, Any]:
        """Optuna distributions by key (imports optuna)."""
        return {name: distribution(p) for name, p in self.params.items()}

    def condition(self, name: str) -> Tuple[str, str] | None:
        """(combination key, member) that `name` depends on: reg.l2.strength is searched only
        in trials whose sampled reg combination holds l2. None: always searched."""
        for key, param in self.params.items():
            if param.combinations and name.startswith(key + "."):
                return key, name[len(key) + 1:].split(".")[0]
        return None

    def conditional(self) -> bool:
        return any(p.combinations for p in self.params.values())

    def active(self, name: str, chosen: Dict[str, Any]) -> bool:
        cond = self.condition(name)
        return cond is None or cond[1] in self.params[cond[0]].members.get(chosen.get(cond[0]), ())

    def suggest(self, trial) -> None:
        """Define-by-run: combinations first, then each parameter whose regularizer is in the
        sampled combination (Optuna's conditional search space)."""
        chosen: Dict[str, Any] = {}
        order = sorted(self.params.values(), key=lambda p: not p.combinations)
        for param in order:
            if self.active(param.name, chosen):
                chosen[param.name] = suggest(trial, param)

    def probes(self) -> List[List[str]]:
        """Overrides that check the space before any trial: each combination with the first
        value of every parameter active in it (one probe without combinations)."""
        combos = [p for p in self.params.values() if p.combinations]
        picks = [{c.name: v for c in combos} for v in (combos[0].choices if combos else [None])]
        out = []
        for pick in picks:
            first = {n: (pick.get(n) if n in pick else
                         (p.grid_values()[0] if p.grid_values() else p.low))
                     for n, p in self.params.items()}
            active = {n: v for n, v in first.items() if self.active(n, first)}
            out.append([*self.fixed, *(as_override(n, v) for n, v in self.clean(active).items())])
        return out

    def clean(self, params: Dict[str, Any]) -> Dict[str, Any]:
        """Sampled values as the space's own values (see Param.clean)."""
        return {k: self.params[k].clean(v) if k in self.params else v
                for k, v in params.items()}


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
    if all(isinstance(v, int) for v in (start, stop, step)):
        count = math.ceil((stop - start) / step)
        return Param(name, "int", start, start + (count - 1) * step, step=step)
    d_start, d_stop, d_step = (Decimal(repr(float(v))) for v in (start, stop, step))
    count = math.ceil((d_stop - d_start) / d_step)
    last = d_start + (count - 1) * d_step
    return Param(name, "float", float(d_start), float(last), step=float(d_step))


def _choice(name: str, sweep) -> Param:
    values = tuple(sweep.list)
    if values and all(isinstance(v, list) for v in values):   # reg=choice([l2],[l2,dropout])
        for v in values:
            if not all(isinstance(m, str) and m and "," not in m for m in v):
                raise SearchError(f"{name}: a combination lists names, got {v!r}")
        return Param(name, "categorical", choices=tuple(f"[{','.join(v)}]" for v in values),
                     combinations=True)
    for v in values:
        if not (v is None or isinstance(v, (str, int, float, bool))):
            raise SearchError(f"{name}: choice values must be numbers or strings, got {v!r}")
    if len(values) == 0:
        raise SearchError(f"{name}: empty choice")
    return Param(name, "categorical", choices=values)


SUPPORTED = "interval, tag(log, interval), int(interval), choice, range or a comma list"
UNSUPPORTED = ("shuffle", "sort", "glob")


def search_parser():
    """Hydra's override parser without the sweep functions a search does not support."""
    from hydra.core.override_parser.overrides_parser import OverridesParser, create_functions

    functions = create_functions()
    for name in UNSUPPORTED:
        functions.functions.pop(name, None)
    return OverridesParser(functions)


def parse_error(arg: str, err: Exception) -> SearchError:
    """One line for an override that does not parse, naming an unsupported function if any."""
    text = str(err).strip()
    unknown = re.search(r"KeyError while evaluating .*: '(\w+)'$", text.splitlines()[0] if text else "")
    if unknown and unknown.group(1) in UNSUPPORTED:
        return SearchError(f"{arg}: {unknown.group(1)}() is not supported in a search "
                           f"space; use {SUPPORTED}")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(err).__name__)
    return SearchError(f"cannot parse {arg!r}: {first}")


def parse_space(arguments: Sequence[str]) -> Space:
    """Split `arguments` (key=value, Hydra syntax) into searched parameters and fixed overrides."""
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep
    from hydra.errors import HydraException

    parser = search_parser()
    space = Space()
    for arg in arguments:
        try:
            override = parser.parse_override(arg)
        except HydraException as err:
            raise parse_error(arg, err) from err
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
                              f"(use {SUPPORTED})")
    if not space.params:
        raise SearchError("no search space: give at least one key as interval(...), choice(...), "
                          "range(...) or a comma list (or hydra.sweeper.params.KEY=...)")
    return space


def suggest(trial, param: Param) -> Any:
    """Sample one parameter in a define-by-run trial, with its distribution."""
    if param.kind == "categorical":
        return trial.suggest_categorical(param.name, list(param.choices))
    if param.kind == "int":
        return trial.suggest_int(param.name, int(param.low), int(param.high), log=param.log,
                                 step=int(param.step or 1))
    return trial.suggest_float(param.name, float(param.low), float(param.high), log=param.log,
                               step=param.step)


def distribution(param: Param):
    """The Optuna distribution of one parameter (imports optuna)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if param.kind == "categorical":
        return CategoricalDistribution(list(param.choices))
    if param.kind == "int":
        return IntDistribution(int(param.low), int(param.high), log=param.log,
                               step=int(param.step or 1))
    return FloatDistribution(float(param.low), float(param.high), log=param.log, step=param.step)


def as_override(name: str, value: Any) -> str:
    """A sampled value as a Hydra override that parses back to the same value."""
    from hydra.core.override_parser.types import Override, Quote, QuotedString

    if isinstance(value, str):   # quoted by Hydra's own rules: quotes, backslashes, any text
        return f"{name}={QuotedString(text=value, quote=Quote.single).with_quotes()}"
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
