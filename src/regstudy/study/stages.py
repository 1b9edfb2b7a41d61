"""The study's stages, each a sweep run through `regstudy train -m`, and where they write.

Resuming is the sweeps' own: a search continues its Optuna study (finished trials kept) and
a re-launched sweep skips finished runs. A stage whose results are all on disk is not even
re-launched.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

from ..record.run_record import SEARCH_FILE, RunRecord, read_plan, read_search
from .arms import ablation_arms, arm_node, best_combination, write_arm
from .commands import (
    ARM_GROUP,
    final_overrides,
    grid_overrides,
    grid_size,
    train_argv,
    tune_overrides,
)
from .compose import Composer
from .process import run_logged, say, warn
from .spec import Arm, Study, StudyError, grid_arms


class StageError(RuntimeError):
    """A stage could not produce what the next one needs; the message says where to look."""


@dataclass(frozen=True)
class Layout:
    root: Path

    def tune(self, arm: str) -> Path:
        return self.root / "tune" / arm

    def grid(self, arm: str) -> Path:
        return self.root / "grid" / arm

    @property
    def final(self) -> Path:
        return self.root / "final"

    @property
    def ablation(self) -> Path:
        return self.root / "ablation"

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"


def sweep_done(sweep_dir: Path, expected: Set[Tuple[str, ...]]) -> bool:
    """Whether the sweep in `sweep_dir` planned exactly `expected` jobs (each the sorted tuple
    of its arm and seed overrides) and every one of them has finished."""
    plan = read_plan(sweep_dir)
    varying = (f"+{ARM_GROUP}=", "seed=")
    jobs = {tuple(sorted(o for o in j["overrides"] if o.startswith(varying))) for j in plan or []}
    if not plan or len(plan) != len(expected) or jobs != expected:
        return False
    return all(RunRecord.load(sweep_dir / j["subdir"]).finished for j in plan)


def _sweep(argv_overrides: List[str], sweep_dir: Path, log: Path, what: str) -> int:
    say(f"{what} -> {sweep_dir} (log: {log})")
    rc = run_logged(train_argv(argv_overrides), log)
    if rc != 0:
        warn(f"{what} exited with {rc}; see {log} (the same command resumes it)")
    return rc


def run_tuning(study: Study, base: List[str], layout: Layout) -> Dict[str, Dict[str, Any]]:
    """Stage 1: every arm with knobs searched on validation; arm -> its search.json."""
    searches: Dict[str, Dict[str, Any]] = {}
    for arm in (a for a in study.arms if a.tuned):
        sweep_dir = layout.tune(arm.name)
        found = read_search(sweep_dir)
        if found and found.get("n_trials", 0) >= study.trials and found.get("best"):
            say(f"tune {arm.name}: finished before ({found['n_trials']} trials), kept")
        else:
            _sweep(tune_overrides(study, arm, base, sweep_dir), sweep_dir,
                   layout.log(f"tune-{arm.name}"),
                   f"tune {arm.name}: {study.trials} trials of {', '.join(arm.space)}")
            found = read_search(sweep_dir)
        if not found or not found.get("best"):
            raise StageError(f"tuning arm {arm.name} left no best trial in "
                             f"{sweep_dir / SEARCH_FILE}; see {layout.log('tune-' + arm.name)}")
        searches[arm.name] = _confirmed(study, arm, found, base, layout)
    return searches


def _confirmed(study: Study, arm: Arm, found: Dict[str, Any], base: List[str],
               layout: Layout) -> Dict[str, Any]:
    """The search with its winner confirmed on more seeds (study.tune.confirm_top)."""
    from .confirm import confirm_arm

    log = layout.log(f"confirm-{arm.name}")
    return confirm_arm(study, arm, found, base, layout.tune(arm.name) / "confirm",
                       lambda ov, d, what: _sweep(ov, d, log, what))


def write_arms(study: Study, composer: Composer, searches: Dict[str, Dict[str, Any]],
               layout: Layout) -> Tuple[Dict[str, List[str]], Dict[str, Tuple[Arm, List[str]]]]:
    """Every arm's chosen config as DIR/conf/arm/NAME.yaml; (arm -> overrides) for the main
    arms, and (name -> (arm, overrides)) for the ablation arms."""
    chosen = {a.name: list(searches[a.name]["best"]["overrides"]) if a.tuned else []
              for a in study.arms}
    for arm in study.arms:
        note = (f"arm {arm.name}: reg=[{','.join(arm.regs)}] "
                + (" ".join(chosen[arm.name]) + " (best on validation)" if arm.tuned
                   else "(nothing to tune)"))
        write_arm(layout.conf, arm.name, arm_node(composer, arm.regs, chosen[arm.name]), note)
    ablated: Dict[str, Tuple[Arm, List[str]]] = {}
    if study.ablation:
        source = (best_combination(study, searches) if study.ablation == "best"
                  else next((a for a in study.arms if a.name == study.ablation), None))
        if source is None:
            raise StudyError(f"study.ablation={study.ablation}: that arm is not selected "
                             "(study.only)")
        for arm, overrides in ablation_arms(composer, source, chosen[source.name]):
            note = f"{arm.name}: {source.name} at its tuned values without one regularizer"
            write_arm(layout.conf, arm.name, arm_node(composer, arm.regs, overrides), note)
            ablated[arm.name] = (arm, overrides)
    return chosen, ablated


def _final_jobs(names: List[str], seeds: List[int]) -> Set[Tuple[str, ...]]:
    return {tuple(sorted([f"+{ARM_GROUP}={n}", f"seed={s}"])) for n in names for s in seeds}


def run_final(study: Study, base: List[str], layout: Layout, names: List[str],
              sweep_dir: Path, baseline: str, what: str) -> int:
    """Stage 2: `names` x the final seeds in one sweep, unless all of it finished before."""
    if sweep_done(sweep_dir, _final_jobs(names, study.seeds)):
        say(f"{what}: all {len(names) * len(study.seeds)} runs finished before, kept")
        return 0
    return _sweep(final_overrides(study, names, base, layout.conf, sweep_dir, baseline), sweep_dir,
           layout.log(sweep_dir.name), f"{what}: {len(names)} arms x {len(study.seeds)} seeds")


def run_sequential(study: Study, base: List[str], layout: Layout) -> Dict[str, Any]:
    """Stage 2 with seeds=auto: look k trains the seeds up to looks[k] for the baseline and
    the arms still open, in its own sweep (DIR/final/look<k>), then every arm is decided
    again from all the records on disk. Returns the decisions and the runs spent."""
    from .decisions import arm_values, final_decisions, look_arms, seen_values

    prev = 0
    for look, n in enumerate(study.analysis.looks, 1):
        arms = look_arms(study, arm_values([layout.final], study.metric), prev)
        if not arms:
            break
        rc = run_final(replace(study, seeds=study.seeds[prev:n]), base, layout, arms,
                       layout.final / f"look{look}", study.baseline,
                       f"final look {look} ({n} seeds per arm)")
        if rc != 0:
            raise StageError(f"look {look} did not finish; see {layout.log('look' + str(look))}"
                             " (the same command resumes the study at this look)")
        prev = n
    values = seen_values(arm_values([layout.final], study.metric), study.seeds[:prev])
    return {"decisions": final_decisions(study, values),
            "runs": sum(len(v) for v in values.values())}


def run_grid(study: Study, base: List[str], layout: Layout) -> List[Arm]:
    """Optional stage: the source study's grid per arm, on validation with the tuning seed."""
    arms = grid_arms(study)
    for arm in arms:
        n = grid_size(arm) * len(study.grid_seeds)
        _sweep(grid_overrides(study, arm, base, layout.grid(arm.name)), layout.grid(arm.name),
               layout.log(f"grid-{arm.name}"), f"grid {arm.name}: {n} runs")
    return arms
