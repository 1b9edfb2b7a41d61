"""The study a search fills: created or continued, checked against the search space, with
trials of dead processes failed so their slots are run again."""

from __future__ import annotations

import logging
import os
import socket
import threading
import warnings
from typing import Any, Dict, List

from .errors import SearchError
from .space import space_difference

log = logging.getLogger("regstudy")

# Trial user attributes set by the sweeper.
RUN_STATUS = "run_status"   # completed | pruned | diverged | failed: the trial counts as done
HOLDER = "holder"           # {"host", "pid"} of the process that asked for the trial
SPACE_ATTR = "search_space"
PRUNER_ATTR = "pruner"
OBJECTIVE_ATTR = "objective"


def open_study(storage, name: str, directions: List[str], sampler,
               described_space: Dict[str, Any], pruner_spec: Dict[str, Any], objective: str):
    """Create the study (several directions: multi-objective) or load it; SearchError when the
    stored one searches something else."""
    import optuna

    study = optuna.create_study(storage=storage, study_name=name, directions=directions,
                                sampler=sampler, load_if_exists=True)
    stored = study.user_attrs.get(SPACE_ATTR)
    if stored is not None:
        diff = space_difference(stored, described_space)
        if diff:
            raise SearchError(f"study {name!r} exists with a different search space: {diff}; "
                              "use another hydra.sweeper.study_name")
    stored_dirs = [d.name.lower() for d in study.directions]
    if stored_dirs != list(directions):
        raise SearchError(f"study {name!r} exists with direction {','.join(stored_dirs)}, "
                          f"not {','.join(directions)}; use another hydra.sweeper.study_name")
    stored_obj = study.user_attrs.get(OBJECTIVE_ATTR)
    if stored_obj is not None and stored_obj != objective:
        raise SearchError(f"study {name!r} exists with objective {stored_obj}, not {objective}; "
                          "use another hydra.sweeper.study_name")
    if stored is None:
        study.set_user_attr(SPACE_ATTR, described_space)
        study.set_user_attr(OBJECTIVE_ATTR, objective)
    study.set_user_attr(PRUNER_ATTR, pruner_spec)
    return study


def trial_id(storage, study, number: int) -> int:
    """The storage's id of trial `number` of `study` (public storage API only)."""
    study_id = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(study_id, number)


def heartbeat_interval(storage) -> int | None:
    """Seconds between heartbeats when the storage records them (RDB with heartbeats), else None."""
    return getattr(storage, "get_heartbeat_interval", lambda: None)()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_trials(study, storage) -> List[int]:
    """Fail RUNNING trials whose holder is gone: a dead process on this host, or (RDB storages
    with heartbeats) one silent for the grace period. Returns their numbers."""
    import optuna
    from optuna.trial import TrialState

    failed = []
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        holder = trial.user_attrs.get(HOLDER) or {}
        if holder.get("host") == host and not _alive(int(holder.get("pid", 0)) or 0):
            if storage.set_trial_state_values(trial_id(storage, study, trial.number),
                                              TrialState.FAIL):
                failed.append(trial.number)
    if heartbeat_interval(storage):
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
        with warnings.catch_warnings():   # "experimental" since Optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
        failed += sorted(after - before)
    if failed:
        log.warning("trials %s were left running by a process that is gone: marked failed, "
                    "their slots run again", failed)
    return failed


def slots_left(study, n_trials: int) -> int:
    """Trials still to ask for: n_trials minus trials done (a run finished) or in flight."""
    from optuna.trial import TrialState

    done = running = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.RUNNING:
            running += 1
        elif trial.state.is_finished() and RUN_STATUS in trial.user_attrs:
            done += 1
    return max(0, n_trials - done - running)


def mark_holder(trial) -> None:
    trial.set_user_attr(HOLDER, {"host": socket.gethostname(), "pid": os.getpid()})


class Heartbeat:
    """Records a heartbeat for the trials in flight (RDB storages with heartbeats), so other
    processes can tell a live trial from one whose process was killed."""

    def __init__(self, storage) -> None:
        self.storage, self.interval = storage, heartbeat_interval(storage)
        self.trial_ids: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self.interval:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def beat(self) -> None:
        if self._thread is not None:
            for tid in list(self.trial_ids):
                self.storage.record_heartbeat(tid)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
            except Exception as err:  # a transient database error must not end the search
                log.warning("heartbeat failed: %s", err)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
