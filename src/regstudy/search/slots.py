"""How trials are scheduled onto the launcher: in slots (default) or in batches.

Slots: k trials are in flight; as soon as one ends (completed, pruned, diverged or failed) the
study is asked for the next and it is launched at once, so a trial the pruner stops after one
epoch frees its slot instead of waiting for the rest of its batch. Each trial is one call of
the launcher's `launch` from its own thread (joblib: its workers are shared by the calls;
submitit: one job per trial), so any launcher works. A launcher that runs jobs inside this
process (Hydra's basic launcher) gets one slot.

Batches: k trials are asked, launched together, and told when all have ended (the old way,
kept for comparison: `hydra.sweeper.schedule=batch`).
"""

from __future__ import annotations

import logging
import threading
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

log = logging.getLogger("regstudy")

SCHEDULES = ("slots", "batch")
Launch = Callable[[List[List[str]], int], Any]
Check = Callable[[List[str]], Optional[str]]
Job = Tuple[Any, Dict[str, Any], List[str]]   # trial, sampled params, overrides


class Scheduler:
    """Asks, checks, launches and tells; one lock keeps the study's calls in one thread at a
    time (asks and tells are quick, the trainings run outside it)."""

    def __init__(self, plan, sweep_dir: Path, launch: Launch, check_trial: Check, heart) -> None:
        self.plan, self.sweep_dir, self.launch = plan, Path(sweep_dir), launch
        self.check_trial, self.heart = check_trial, heart
        self.lock = threading.Lock()
        self.distributions = plan.space.distributions()

    def room(self, free: int) -> int:
        """How many trials to ask for now: free slots, n_trials left, the failure budget."""
        from .optuna_study import fail_dead_trials, slots_left
        from .runner import failure_stop, record_dead_trials

        record_dead_trials(self.plan, self.sweep_dir,
                           fail_dead_trials(self.plan.study, self.plan.storage))
        if failure_stop(self.plan):
            return 0
        return min(free, slots_left(self.plan.study, self.plan.n_trials))

    def ask(self, n: int) -> List[Job]:
        """n new trials; one whose overrides the config check refuses is failed (told) at once."""
        from .optuna_study import mark_holder, trial_id
        from .runner import tell, trial_overrides

        with warnings.catch_warnings():   # heartbeats are recorded by `Heartbeat`
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            trials = [self._ask() for _ in range(n)]
        jobs = []
        for trial in trials:
            mark_holder(trial)
            params = self.plan.space.clean(trial.params)
            overrides = trial_overrides(self.plan, trial, params)
            problem = self.check_trial(overrides)
            if problem:   # e.g. a sampled value outside the key's range: the trial fails
                tell(self.plan, trial, params, self.sweep_dir / str(trial.number), problem)
                continue
            self.heart.trial_ids.add(trial_id(self.plan.storage, self.plan.study, trial.number))
            jobs.append((trial, params, overrides))
        self.heart.beat()
        return jobs

    def _ask(self):
        """A new trial; a conditional space (combinations) is sampled define-by-run."""
        if not self.plan.space.conditional():
            return self.plan.study.ask(self.distributions)
        trial = self.plan.study.ask()
        self.plan.space.suggest(trial)
        return trial

    def finish(self, jobs: List[Job]) -> None:
        from .optuna_study import trial_id
        from .runner import tell

        for trial, params, _ in jobs:
            tell(self.plan, trial, params, self.sweep_dir / str(trial.number))
            self.heart.trial_ids.discard(trial_id(self.plan.storage, self.plan.study,
                                                  trial.number))

    def run_one(self, job: Job) -> None:
        """One slot's trial: launched alone (outside the lock), then told."""
        self.launch([job[2]], job[0].number)
        with self.lock:
            self.finish([job])


def run_batches(sched: Scheduler, size: int) -> None:
    """Ask `size` trials, launch them together, tell them all; until nothing is left."""
    while True:
        n = sched.room(size)
        if n == 0:
            return
        jobs = sched.ask(n)
        if jobs:
            sched.launch([o for _, _, o in jobs], jobs[0][0].number)
            sched.finish(jobs)


def run_slots(sched: Scheduler, slots: int) -> None:
    """Keep `slots` trials in flight; ask for the next one as soon as any ends. One slot runs
    in this thread, as batches of one: an in-process launcher's job keeps the main thread (its
    SIGTERM handler, so an interrupted trial checkpoints and is recorded)."""
    if slots <= 1:
        run_batches(sched, 1)
        return
    running: Set[Future] = set()
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="trial") as pool:
        while True:
            with sched.lock:
                n = sched.room(slots - len(running))
                jobs = sched.ask(n) if n else []
            running |= {pool.submit(sched.run_one, job) for job in jobs}
            if not running:
                if n == 0:
                    return
                continue          # every asked trial failed its check: ask again
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()   # a launcher error ends the search (the others finish first)


def in_process(launcher_target: str) -> bool:
    """Hydra's basic launcher runs each job inside this process: one at a time only."""
    return launcher_target.endswith("BasicLauncher") or not launcher_target
