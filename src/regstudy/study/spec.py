"""A study declaration (the `study:` node of a preset) read into plain data and checked.

Everything here is torch-free and runs before any training: an arm naming an unknown
regularizer, a search space for a knob the arm does not have, or fewer than two final seeds
is one line and exit 2, not a failed job an hour later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional

from omegaconf import DictConfig, OmegaConf

# Overrides that choose the launcher: given on the command line, they replace study.launcher.
LAUNCHER_KEYS = ("hydra/launcher", "hydra.launcher")


class StudyError(ValueError):
    """The study declaration or the command line is wrong; the message is one line."""


@dataclass(frozen=True)
class Arm:
    name: str
    regs: List[str]
    space: Dict[str, str] = field(default_factory=dict)   # knob -> Hydra sweep expression
    grid: Dict[str, str] = field(default_factory=dict)    # knob -> "v1,v2,..."
    # Remove-one ablation arms: taken from `source`'s tuned values, with `regs` left.
    source: Optional[str] = None

    @property
    def tuned(self) -> bool:
        return bool(self.space)

    @property
    def reg_override(self) -> str:
        return f"reg=[{','.join(self.regs)}]"


@dataclass(frozen=True)
class Claim:
    """One claim of the source, as data: `arm` has `expect` (lower/higher/equal) `metric`
    than each arm of `than`."""

    text: str
    arm: str
    than: List[str]
    metric: str
    expect: str


@dataclass(frozen=True)
class Analysis:
    """How the final stage compares arms: paired or Welch, at which level, and (seeds=auto)
    the looks of the sequential rule and the smallest effect of interest."""

    method: str = "paired"
    alpha: float = 0.05
    sesoi: Optional[float] = None      # in the units the table prints (percentage points)
    looks: List[int] = field(default_factory=list)   # [] = a fixed number of seeds
    spending: str = "obf"

    @property
    def sequential(self) -> bool:
        return bool(self.looks)


@dataclass(frozen=True)
class Study:
    name: str
    arms: List[Arm]                 # selected arms, the baseline first
    baseline: str
    ablation: str
    trials: int
    tune_epochs: int
    final_epochs: int
    seeds: List[int]                # final seeds
    tune: Dict[str, Any]            # the study.tune node (sampler, pruner, seeds, objective)
    metric: str
    grid_enabled: bool
    grid_names: List[str]           # arms the grid is for ([] = every one with a grid knob)
    grid_seeds: List[int]
    launcher: List[str]
    analysis: Analysis = field(default_factory=Analysis)
    claims: List[Claim] = field(default_factory=list)

    def arm(self, name: str) -> Arm:
        return next(a for a in self.arms if a.name == name)


def flatten(node: Any, prefix: str = "") -> Dict[str, str]:
    """{'reg': {'l2': {'strength': 'x'}}} -> {'reg.l2.strength': 'x'}; lists join with commas."""
    if isinstance(node, Mapping):
        out: Dict[str, str] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    if isinstance(node, (list, tuple)):
        return {prefix[:-1]: ",".join(str(v) for v in node)}
    return {prefix[:-1]: str(node)}


def known_regularizers(config_root: str) -> List[str]:
    """The options of the `reg` config group (what `reg=[...]` accepts)."""
    return sorted(p.stem for p in Path(config_root, "reg").glob("*.yaml"))


def _check_sweep_expression(where: str, key: str, expr: str) -> None:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_override(f"{key}={expr}")
    except Exception as err:  # Hydra's grammar errors span lines: keep the first
        raise StudyError(f"{where}.{key}={expr!r} does not parse as a Hydra sweep: "
                         f"{str(err).splitlines()[0]}") from None
    if not parsed.is_sweep_override():
        raise StudyError(f"{where}.{key}={expr!r} is a single value, not a search space; "
                         "write e.g. interval(0.1, 0.7) or tag(log, interval(1e-6, 1e-1))")


def _container(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _arm_knobs(name: str, regs: List[str], has_knob: Callable[[List[str], str], bool],
               space: Dict[str, str], arm_space: Dict[str, Dict[str, str]],
               grid: Dict[str, str]) -> Arm:
    if name in arm_space:
        mine = arm_space[name]
        for key in mine:
            if not has_knob(regs, key):
                raise StudyError(f"study.arm_space.{name}: arm {name} (reg=[{','.join(regs)}]) "
                                 f"has no knob {key}; search only what the arm has")
    else:
        mine = {k: v for k, v in space.items() if has_knob(regs, k)}
    return Arm(name, list(regs), dict(mine), {k: v for k, v in grid.items() if has_knob(regs, k)})


def _check_arms(arms: Dict[str, List[str]], known: List[str]) -> None:
    if not arms:
        raise StudyError("this experiment declares no study (no study.arms); presets with one: "
                         "kung_regularization, psp_mnist, psp_fmnist")
    for name, regs in arms.items():
        if not regs:
            raise StudyError(f"study.arms.{name} is empty; give regularizers, e.g. [none]")
        for reg in regs:
            if reg not in known:
                raise StudyError(f"study.arms.{name}: unknown regularizer {reg!r}; "
                                 f"choose from: {', '.join(known)}")


def _selected(s: DictConfig, arms: Dict[str, List[str]]) -> List[str]:
    only = list(s.only) or list(arms)
    for name in [*only, s.baseline, *list(s.grid.arms)]:
        if name not in arms:
            raise StudyError(f"study arm {name!r} (in study.only, study.baseline or "
                             f"study.grid.arms) is not declared; arms: {', '.join(arms)}")
    return [s.baseline] + [n for n in arms if n in only and n != s.baseline]


def _check_objective(objective: str, direction: Optional[str]) -> None:
    """A test metric, a metric the run record lacks or an unknown direction fails here, before
    stage 1 starts (the search sweeper would only refuse it at the first arm's search)."""
    from ..search.errors import SearchError
    from ..search.objective import get_objective

    try:
        get_objective(objective, direction)
    except SearchError as err:
        raise StudyError(str(err).replace("hydra.sweeper.", "study.tune.")) from err


def n_seeds(s: DictConfig) -> int:
    """Seeds per arm of the final stage (the most it may run when seeds=auto)."""
    return int(s.final.max_seeds) if str(s.final.seeds) == "auto" else int(s.final.seeds)


def _check_budget(s: DictConfig) -> None:
    if str(s.final.seeds) != "auto" and not str(s.final.seeds).isdigit():
        raise StudyError(f"study.final.seeds={s.final.seeds}: give a number of seeds or auto")
    if n_seeds(s) < 2:
        raise StudyError(f"study.final.seeds={s.final.seeds}: need at least 2 seeds for an "
                         "interval and a test against the baseline")
    if s.tune.trials < 0:
        raise StudyError(f"study.tune.trials={s.tune.trials} must be >= 0 (0: no tuning, "
                         "every arm trains at the preset's values)")
    _check_objective(s.tune.objective, s.tune.direction)
    if s.grid.seeds < 1:
        raise StudyError(f"study.grid.seeds={s.grid.seeds} must be >= 1")
    if s.final.seed_offset <= s.tune.seed < s.final.seed_offset + n_seeds(s):
        raise StudyError(f"study.tune.seed={s.tune.seed} is one of the final seeds "
                         f"{s.final.seed_offset}..{s.final.seed_offset + n_seeds(s) - 1}; "
                         "move study.final.seed_offset so the final seeds are fresh")


def _check_ablation(of: str, arms: Dict[str, List[str]]) -> None:
    if of in ("", "best"):
        return
    if of not in arms:
        raise StudyError(f"study.ablation={of!r} is not an arm; arms: {', '.join(arms)}")
    if len(arms[of]) < 2:
        raise StudyError(f"study.ablation={of!r} has one regularizer; a remove-one ablation "
                         "needs a combination")


def read_study(cfg: DictConfig, has_knob: Callable[[List[str], str], bool],
               config_root: str) -> Study:
    """The selected arms with their search spaces, and the budgets, from a composed config.

    `has_knob(regs, key)` says whether the config with reg=[regs] has `key` (not null)."""
    s = cfg.study
    arms: Dict[str, List[str]] = {k: list(v) for k, v in s.arms.items()}
    _check_arms(arms, known_regularizers(config_root))
    _check_budget(s)
    space = flatten(_container(s.space))
    arm_space = {a: flatten(v) for a, v in (_container(s.arm_space) or {}).items()}
    for a in arm_space:
        if a not in arms:
            raise StudyError(f"study.arm_space.{a}: no such arm; arms: {', '.join(arms)}")
    for where, sp in [("study.space", space)] + [(f"study.arm_space.{a}", v)
                                                  for a, v in arm_space.items()]:
        for key, expr in sp.items():
            _check_sweep_expression(where, key, expr)
    for key in space:
        if not any(has_knob(regs, key) for regs in arms.values()):
            raise StudyError(f"study.space.{key}: no arm has this knob; check its spelling")
    grid = flatten(_container(s.grid["values"]))  # .values is the Mapping method
    _check_ablation(s.ablation, arms)
    if s.tune.trials == 0:   # no tuning: the arms train at the values the preset gives them
        space, arm_space = {}, {a: {} for a in arms}
    chosen = [_arm_knobs(n, arms[n], has_knob, space, arm_space, grid) for n in _selected(s, arms)]
    tune_epochs = s.tune.epochs or cfg.trainer.epochs
    return Study(
        name=str(cfg.name), arms=chosen, baseline=s.baseline, ablation=s.ablation,
        trials=s.tune.trials, tune_epochs=tune_epochs,
        final_epochs=s.final.epochs or cfg.trainer.epochs,
        seeds=[s.final.seed_offset + i for i in range(n_seeds(s))],
        tune=_container(s.tune), metric=s.final.metric, grid_enabled=s.grid.enabled,
        grid_names=list(s.grid.arms),
        grid_seeds=[s.tune.seed + i for i in range(s.grid.seeds)],
        launcher=list(s.launcher), analysis=read_analysis(s),
        claims=read_claims(_container(s.claims), list(arms), s.final.metric,
                           _ablation_names(arms)))


def grid_arms(study: Study) -> List[Arm]:
    """Arms the grid stage runs: those named (or every selected one) that have a grid knob."""
    return [a for a in study.arms
            if a.grid and (not study.grid_names or a.name in study.grid_names)]


SPENDING = ("obf", "pocock")
ANALYSES = ("paired", "welch")
CLAIM_METRICS = ("test_error", "test_acc", "best_val_acc", "gap", "zsq")
EXPECT = ("lower", "higher", "equal")


def _ablation_names(arms: Dict[str, List[str]]) -> List[str]:
    """Names of the remove-one arms any combination arm can have (as stages.ablation_arms
    names them), for claims about an ablation (judged "not run" when it is off)."""
    return [f"{name}_minus_{reg}" for name, regs in arms.items() if len(regs) > 1
            for reg in regs]


def read_analysis(s: DictConfig) -> Analysis:
    """The final stage's analysis; seeds=auto checked: sesoi > 0, min <= looks <= max."""
    f = s.final
    if f.analysis not in ANALYSES:
        raise StudyError(f"study.final.analysis={f.analysis}: choose from {', '.join(ANALYSES)}")
    if not 0 < f.alpha < 1:
        raise StudyError(f"study.final.alpha={f.alpha} must be in (0, 1)")
    if s.sesoi is not None and s.sesoi <= 0:
        raise StudyError(f"study.sesoi={s.sesoi} must be > 0 (the smallest difference that "
                         "matters, in the table's units, e.g. 0.1 percentage points)")
    if str(f.seeds) != "auto":
        return Analysis(f.analysis, float(f.alpha), s.sesoi)
    if s.sesoi is None:
        raise StudyError("study.final.seeds=auto needs study.sesoi (the smallest difference "
                         "that matters, e.g. study.sesoi=0.1 percentage points)")
    if f.spending not in SPENDING:
        raise StudyError(f"study.final.spending={f.spending}: choose from {', '.join(SPENDING)}")
    if not 2 <= f.min_seeds <= f.max_seeds:
        raise StudyError(f"study.final.min_seeds={f.min_seeds}, max_seeds={f.max_seeds}: need "
                         "2 <= min_seeds <= max_seeds")
    looks = sorted(set(list(f.looks) or [f.min_seeds, f.max_seeds]))
    if looks[0] < f.min_seeds or looks[-1] > f.max_seeds:
        raise StudyError(f"study.final.looks={looks}: every look must lie in "
                         f"[min_seeds, max_seeds] = [{f.min_seeds}, {f.max_seeds}]")
    if looks[-1] != f.max_seeds:
        looks.append(int(f.max_seeds))
    return Analysis(f.analysis, float(f.alpha), float(s.sesoi), looks, f.spending)


def read_claims(raw: Any, arms: List[str], metric: str,
                removed: List[str] = ()) -> List[Claim]:
    """The preset's claims, each naming declared arms and a metric the runs record (`than:
    all` = every other declared arm; arms left out by study.only are judged "not run")."""
    claims = []
    for i, c in enumerate(raw or []):
        where = f"study.claims[{i}]"
        if not isinstance(c, Mapping) or "arm" not in c:
            raise StudyError(f"{where}: expected {{claim, arm, than, metric, expect}}")
        than = [a for a in arms if a != c["arm"]] if c.get("than", "all") == "all" \
            else list(c["than"]) if isinstance(c["than"], (list, tuple)) else [c["than"]]
        for name in [c["arm"], *than]:
            if name not in arms and name not in removed:
                raise StudyError(f"{where}: arm {name!r} is not in this study; arms: "
                                 f"{', '.join(arms)}")
        m, expect = c.get("metric", metric), c.get("expect", "lower")
        if m not in CLAIM_METRICS:
            raise StudyError(f"{where}: metric {m!r}: choose from {', '.join(CLAIM_METRICS)}")
        if expect not in EXPECT:
            raise StudyError(f"{where}: expect {expect!r}: choose from {', '.join(EXPECT)}")
        claims.append(Claim(str(c.get("claim", "")), c["arm"], than, m, expect))
    return claims
