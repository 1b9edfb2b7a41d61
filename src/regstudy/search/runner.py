"""The search behind the sweeper: ask the study for trials, launch each as an ordinary run
through Hydra's launcher (in slots or batches: `slots`), tell the study what each run's
metrics.json says.

Every input check happens in `prepare`, before any trial is asked for.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from ..record.run_record import RunRecord, annotate_trial, write_search
from .algorithms import build_pruner, build_sampler, check_names, grid_of, random_start_note
from .errors import SearchError
from .objective import Objective, get_objectives, record_value
from .optuna_study import RUN_STATUS, Heartbeat, open_study
from .space import Space, as_override, parse_space
from .storage import default_url, open_storage
from .summary import summarize

log = logging.getLogger("regstudy")

# Run status in metrics.json -> (Optuna state name, counted as)
OUTCOMES = {"completed": "COMPLETE", "pruned": "PRUNED", "diverged": "FAIL"}


@dataclass
class Plan:
    """Everything a search needs, checked: built by `prepare` before any trial."""

    space: Space
    objective: Objective
    direction: str
    storage_url: str
    storage: Any
    study: Any
    n_trials: int
    batch: int
    schedule: str = "slots"
    max_failure_rate: float = 1.0
    objectives: List[Objective] = field(default_factory=list)   # all of them, `objective` first
    directions: List[str] = field(default_factory=list)

    @property
    def multi(self) -> bool:
        return len(self.objectives) > 1

    @property
    def objective_label(self) -> str:
        """The objective as search.json and the study name it: `a` or `a,b`."""
        return ",".join(o.name for o in self.objectives) or self.objective.name


def batch_size(conf: DictConfig, launcher: DictConfig) -> int:
    """Trials in flight: the sweeper's n_jobs, else what the launcher runs at once; one when
    slots would run inside this process (Hydra's basic launcher)."""
    from .slots import in_process

    target = str(launcher.get("_target_", ""))
    if conf.get("schedule", "slots") == "slots" and in_process(target):
        return 1
    if conf.get("n_jobs"):
        return int(conf.n_jobs)
    if "joblib" in target:
        from ..threads import available_cpus, joblib_workers

        return joblib_workers(int(launcher.get("n_jobs") or 1), available_cpus())
    if "submitit" in target and launcher.get("array_parallelism"):
        return int(launcher.array_parallelism)
    return 1


def _flat(tree: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """hydra.sweeper.params.reg.l2.strength=... on the command line nests; YAML keys are dotted."""
    out: Dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def prepare(conf: DictConfig, arguments: Sequence[str], sweep_dir: Path,
            launcher: DictConfig, check_trial: Callable[[List[str]], Optional[str]]) -> Plan:
    """Parse and check the whole search (SearchError on any bad input), then open the study."""
    params = [f"{k}={v}" for k, v in _flat(OmegaConf.to_container(conf.params)).items()]
    space = parse_space([*params, *arguments])
    objectives = get_objectives(conf.objective, conf.direction)
    objective, direction = objectives[0]
    check_names(conf.sampler, conf.pruner)
    check_numbers(conf)
    pruner = pruner_for(conf, len(objectives))
    n_trials = conf.n_trials
    if conf.sampler == "grid":
        n_trials = min(n_trials, math.prod(len(v) for v in grid_of(space).values()))
    for probe in space.probes():
        problem = check_trial(probe)
        if problem:
            raise SearchError(problem)
    sampler_opts = OmegaConf.to_container(conf.sampler_options, resolve=True)
    sampler = build_sampler(conf.sampler, sampler_opts, conf.seed, space)
    note = random_start_note(conf.sampler, sampler_opts, n_trials)
    if note:
        log.warning(note)
    pruner_opts = OmegaConf.to_container(conf.pruner_options, resolve=True)
    build_pruner(pruner, pruner_opts)               # the trials build it; check the options now
    url = conf.storage or default_url(sweep_dir)
    interval = conf.heartbeat_interval if conf.heartbeat_interval > 0 else None
    grace = (conf.grace_period or 2 * interval) if interval else None
    storage = open_storage(url, interval, grace)
    study = open_study(storage, conf.study_name, [d for _, d in objectives], sampler,
                       space.describe(), {"name": pruner, "options": pruner_opts},
                       ",".join(o.name for o, _ in objectives))
    if conf.seed is not None and study.trials:
        # A resumed search or a second worker: seeded like the first, it would propose the
        # first worker's points again. Offset by the trials stored (deterministic given them).
        study.sampler = build_sampler(conf.sampler, sampler_opts, conf.seed + len(study.trials),
                                      space)
    return Plan(space, objective, direction, url, storage, study, n_trials,
                max(1, batch_size(conf, launcher)), conf.schedule, float(conf.max_failure_rate),
                [o for o, _ in objectives], [d for _, d in objectives])


SINGLE_OBJECTIVE_SAMPLERS = ("cmaes",)


def pruner_for(conf: DictConfig, n_objectives: int) -> str:
    """The pruner to use: none for a multi-objective search (Optuna prunes single-objective
    trials only), with a one-line note when another was asked for."""
    if n_objectives == 1:
        return conf.pruner
    if conf.sampler in SINGLE_OBJECTIVE_SAMPLERS:
        raise SearchError(f"hydra.sweeper.sampler={conf.sampler} optimizes one objective; "
                          "for several use nsgaii, tpe, random, qmc or grid")
    if conf.pruner != "none":
        log.warning("multi-objective search: pruning disabled (Optuna does not prune "
                    "multi-objective trials; hydra.sweeper.pruner=%s ignored)", conf.pruner)
    return "none"


def check_numbers(conf: DictConfig) -> None:
    """n_trials, schedule and max_failure_rate, before anything is opened."""
    from .slots import SCHEDULES

    if conf.n_trials < 1:
        raise SearchError(f"hydra.sweeper.n_trials={conf.n_trials}: give at least 1")
    if conf.schedule not in SCHEDULES:
        raise SearchError(f"hydra.sweeper.schedule={conf.schedule}: choose one of "
                          f"{', '.join(SCHEDULES)}")
    if not 0.0 <= conf.max_failure_rate <= 1.0:
        raise SearchError(f"hydra.sweeper.max_failure_rate={conf.max_failure_rate}: give a "
                          "share of n_trials between 0 and 1 (1: never stop)")


def failures(study) -> int:
    """Trials that ended failed or diverged (pruned trials are not failures)."""
    from optuna.trial import TrialState

    return sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
               if RUN_STATUS in t.user_attrs)


def failure_stop(plan: Plan) -> Optional[str]:
    """Why the search stops asking (more than max_failure_rate * n_trials trials failed), or
    None. The default rate 1 never stops: every trial may fail and the search still ends."""
    if plan.max_failure_rate >= 1.0:
        return None
    failed = failures(plan.study)
    if failed <= plan.max_failure_rate * plan.n_trials:
        return None
    return (f"{failed} trials failed, more than hydra.sweeper.max_failure_rate="
            f"{plan.max_failure_rate:g} of n_trials={plan.n_trials}: the search stopped")


def trial_overrides(plan: Plan, trial, params: Dict[str, Any]) -> List[str]:
    """A trial's job: the fixed overrides, its sampled values, where to report, its directory."""
    return [*plan.space.fixed, *(as_override(k, v) for k, v in params.items()),
            as_override("search.study", plan.study.study_name),
            as_override("search.storage", plan.storage_url),
            f"search.trial={trial.number}", f"search.objective={plan.objective.name}",
            f"search.direction={plan.direction}", f"hydra.sweep.subdir={trial.number}"]


def tell(plan: Plan, trial, params: Dict[str, Any], run_dir: Path,
         problem: Optional[str] = None) -> str:
    """Tell the study the outcome of one trial from its run record; returns the run status."""
    from optuna.trial import TrialState

    loaded = RunRecord.load(run_dir)
    record = loaded.data
    status = "failed" if problem or not loaded.readable else loaded.get("status", "failed")
    values = [record_value(o, record) if status == "completed" else None
              for o in plan.objectives or [plan.objective]]
    if status == "completed" and any(v is None or not math.isfinite(v) for v in values):
        status = "failed"
    value = values if plan.multi else values[0]
    if status not in (*OUTCOMES, "failed"):   # killed or stopped before it finished
        status, problem = "failed", f"the run ended {status}"
    trial.set_user_attr(RUN_STATUS, status)
    trial.set_user_attr("run_dir", str(Path(run_dir).resolve()))  # readers join it to nothing
    if problem or status == "failed":
        trial.set_user_attr("error", problem or record.get("error") or "no finished run record")
    state = getattr(TrialState, OUTCOMES.get(status, "FAIL"))
    try:
        plan.study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
    except RuntimeError as err:
        # GridSampler asks the study to stop once its grid is exhausted, which Optuna allows
        # only inside optimize(); the trial is stored already and n_trials is capped at the grid.
        if "Study.stop" not in str(err):
            raise
    annotate_trial(run_dir, {"study_name": plan.study.study_name, "trial": trial.number,
                           "params": params, "objective": plan.objective_label,
                           "value": None if state != TrialState.COMPLETE else value,
                           "state": state.name.lower()},
                 failed=trial.user_attrs.get("error", "") if state.name == "FAIL" else "")
    shown = "".join(f" {o.name}={v:.6g}" for o, v in zip(plan.objectives or [plan.objective],
                                                         values) if v is not None)
    log.info("trial %d: %s%s %s", trial.number, status, shown, params)
    return status


def run_search(plan: Plan, sweep_dir: Path, launch: Callable[[List[List[str]], int], Any],
               check_trial: Callable[[List[str]], Optional[str]]) -> Dict[str, Any]:
    """Ask, launch and tell (in slots or batches) until the study holds n_trials finished
    trials or too many failed; then write search.json."""
    from .slots import Scheduler, run_batches, run_slots

    with Heartbeat(plan.storage) as heart:
        sched = Scheduler(plan, sweep_dir, launch, check_trial, heart)
        if plan.schedule == "batch":
            run_batches(sched, plan.batch)
        else:
            run_slots(sched, min(plan.batch, plan.n_trials))
    summary = summarize(plan.study, plan.storage_url,
                        [o.name for o in plan.objectives] if plan.multi else plan.objective.name,
                        plan.directions if plan.multi else plan.direction,
                        plan.n_trials, plan.space.clean)
    stopped = failure_stop(plan)
    if stopped:
        summary["stopped"] = stopped
    path = write_search(sweep_dir, summary)
    log.info("search summary%s: %s (best: %s)", " (partial: other workers' trials still run)"
             if summary["partial"] else "", path, summary["best"])
    return summary


def record_dead_trials(plan: Plan, sweep_dir: Path, numbers: List[int]) -> None:
    """Trials failed because their process is gone: their run records (in this sweep
    directory) say failed too, with the sampled parameters the study holds."""
    if not numbers:
        return
    for trial in plan.study.get_trials(deepcopy=False):
        if trial.number in numbers:
            annotate_trial(sweep_dir / str(trial.number),
                         {"study_name": plan.study.study_name, "trial": trial.number,
                          "params": dict(trial.params), "objective": plan.objective_label,
                          "value": None, "state": "fail"},
                         failed="its process was killed before the run finished")


def _launch_batch(plan: Plan, sweep_dir: Path, jobs, launch, check_trial) -> None:
    runnable = []
    for trial, params in jobs:
        overrides = trial_overrides(plan, trial, params)
        problem = check_trial(overrides)
        if problem:   # e.g. a sampled value outside the key's range: the trial fails, not the search
            tell(plan, trial, params, sweep_dir / str(trial.number), problem)
        else:
            runnable.append((trial, params, overrides))
    if runnable:
        launch([o for _, _, o in runnable], runnable[0][0].number)
    for trial, params, _ in runnable:
        tell(plan, trial, params, sweep_dir / str(trial.number))


def _dist(param):
    from .space import distribution

    return distribution(param)


def _tid(plan: Plan, trial) -> int:
    from .optuna_study import trial_id

    return trial_id(plan.storage, plan.study, trial.number)
