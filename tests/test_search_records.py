"""A search's records agree with its study: a trial the study fails is failed in its run's
metrics.json, with its sampled parameters; search.json says when other trials still run."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from regstudy.search.objective import get_objective
from regstudy.search.runner import Plan, tell
from regstudy.search.summary import summarize

SPACE = {"reg.l2.strength": FloatDistribution(1e-6, 1e-1, log=True)}


def _record(run_dir: Path, number: int, **fields) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(
        {"config": {"search": {"trial": number}}, "history": [], **fields}))


@pytest.fixture
def plan() -> Plan:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    objective, direction = get_objective("best_val_acc", None)
    return Plan(space=None, objective=objective, direction=direction, storage_url="memory",
                storage=None, study=study, n_trials=2, batch=1)


def test_a_killed_trial_is_failed_in_its_record_with_its_parameters(plan, tmp_path):
    trial = plan.study.ask(SPACE)
    _record(tmp_path / "0", 0, status="running")   # its process was killed mid-run
    assert tell(plan, trial, dict(trial.params), tmp_path / "0") == "failed"
    record = json.loads((tmp_path / "0" / "metrics.json").read_text())
    assert plan.study.trials[0].state == TrialState.FAIL
    assert record["status"] == "failed" and record["error"] == "the run ended running"
    assert record["search"]["params"] == trial.params and record["search"]["state"] == "fail"


def test_a_trial_failed_as_dead_gets_its_parameters_in_its_record(plan, tmp_path):
    from regstudy.search.runner import record_dead_trials

    trial = plan.study.ask(SPACE)
    _record(tmp_path / "0", 0, status="interrupted")
    plan.study.tell(trial, state=TrialState.FAIL)   # as fail_dead_trials leaves it
    record_dead_trials(plan, tmp_path, [0])
    record = json.loads((tmp_path / "0" / "metrics.json").read_text())
    assert record["status"] == "failed" and "process was killed" in record["error"]
    assert record["search"]["params"] == trial.params


def test_summary_is_partial_while_other_trials_run(plan, tmp_path):
    first, second = plan.study.ask(SPACE), plan.study.ask(SPACE)
    _record(tmp_path / "0", 0, status="completed", best_val_acc=0.5)
    tell(plan, first, dict(first.params), tmp_path / "0")
    early = summarize(plan.study, "memory", "best_val_acc", "maximize", 2)
    assert early["partial"] is True and early["best"]["number"] == 0
    _record(tmp_path / "1", 1, status="completed", best_val_acc=0.9)
    tell(plan, second, dict(second.params), tmp_path / "1")
    final = summarize(plan.study, "memory", "best_val_acc", "maximize", 2)
    assert final["partial"] is False and final["best"]["number"] == 1
