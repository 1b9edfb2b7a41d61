"""Trials in slots: with 2 jobs, a new trial starts as soon as either running trial ends (joblib
and submitit), a search whose trials keep failing stops at max_failure_rate, and the added
samplers run real trials."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import run_cli
from .search_helpers import TRIAL, load_study, records

pytestmark = pytest.mark.slow   # real trainings in several processes


def enqueued_search(sweep_dir: Path, data_root: Path, epochs: list, *extra: str):
    """A search over trainer.epochs whose trials are enqueued with the given epochs, in order."""
    import optuna

    sweep_dir.mkdir(parents=True)
    study = optuna.create_study(storage=f"sqlite:///{sweep_dir / 'optuna.db'}",
                                study_name="regstudy", direction="maximize")
    for n in epochs:
        study.enqueue_trial({"trainer.epochs": n})
    return run_cli(["train", "-m", "hydra/sweeper=optuna", *TRIAL, "trainer.epochs=choice(1, 6, 12)",
                    f"hydra.sweeper.n_trials={len(epochs)}", "hydra.sweeper.pruner=none",
                    f"hydra.sweep.dir={sweep_dir}", *extra],
                   env={"REGSTUDY_DATA": str(data_root)})


def told_order(stdout: str) -> list:
    """Trial numbers in the order the sweeper told the study their outcome."""
    return [int(n) for n in re.findall(r"trial (\d+): (?:completed|pruned|failed|diverged)",
                                       stdout)]


def test_joblib_slot_is_refilled_as_soon_as_a_trial_ends(tmp_path, data_root):
    """Trial 0 trains 12 epochs, trials 1-3 one epoch each: in slots, trials 1, 2 and 3 run one
    after another beside trial 0 and all end before it; in batches trial 2 waited for trial 0."""
    out = enqueued_search(tmp_path / "s", data_root, [12, 1, 1, 1], "hydra/launcher=joblib",
                          "hydra.launcher.n_jobs=2")
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert told_order(log)[-1] == 0 and sorted(told_order(log)) == [0, 1, 2, 3], log[-3000:]
    assert log.count("is launching 1 jobs") == 4          # each trial launched alone
    recs = records(tmp_path / "s")
    assert [recs[n]["epochs_run"] for n in range(4)] == [12, 1, 1, 1]
    summary = json.loads((tmp_path / "s" / "search.json").read_text())
    assert summary["counts"]["complete"] == 4


def test_batch_schedule_waits_for_the_whole_batch(tmp_path, data_root):
    out = enqueued_search(tmp_path / "b", data_root, [6, 1, 1, 1], "hydra/launcher=joblib",
                          "hydra.launcher.n_jobs=2", "hydra.sweeper.schedule=batch")
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert told_order(log) == [0, 1, 2, 3] and log.count("is launching 2 jobs") == 2


def test_submitit_local_runs_each_trial_as_its_own_job(tmp_path, data_root):
    """Through submitit, each slot's trial is a job of its own (two job folders), and the
    study, the run records and search.json agree."""
    sweep_dir = tmp_path / "sub"
    out = run_cli(["train", "-m", "hydra/sweeper=optuna", "reg=l2", *TRIAL,
                   "reg.l2.strength=tag(log, interval(1e-6, 1e-1))", "hydra.sweeper.n_trials=2",
                   "hydra/launcher=submitit_local", "hydra.sweeper.n_jobs=2",
                   f"hydra.sweep.dir={sweep_dir}"], env={"REGSTUDY_DATA": str(data_root)})
    assert out.returncode == 0, out.stderr[-3000:]
    jobs = [p for p in (sweep_dir / ".submitit").iterdir() if p.is_dir() and p.name.isdigit()]
    assert len(jobs) == 2, sorted(p.name for p in (sweep_dir / ".submitit").iterdir())
    trials = load_study(f"sqlite:///{sweep_dir / 'optuna.db'}").get_trials()
    recs = records(sweep_dir)
    assert sorted(recs) == [0, 1]
    assert all(recs[t.number]["best_val_acc"] == t.value for t in trials)


def test_search_stops_when_too_many_trials_fail(tmp_path, data_root):
    """Every trial diverges (lr 1e5): with max_failure_rate=0.25 of 8 trials the search stops
    after the third failure, says so in one line, exits 1 and still writes search.json."""
    sweep_dir = tmp_path / "fail"
    out = run_cli(["train", "-m", "hydra/sweeper=optuna", *TRIAL, "trainer.epochs=1",
                   "optim.lr=interval(1e5, 1e6)", "hydra.sweeper.n_trials=8",
                   "hydra.sweeper.max_failure_rate=0.25", f"hydra.sweep.dir={sweep_dir}"],
                  env={"REGSTUDY_DATA": str(data_root)})
    assert out.returncode == 1, out.stderr[-3000:]
    assert out.stderr.strip().splitlines()[-1] == (
        "regstudy train: error: 3 trials failed, more than hydra.sweeper.max_failure_rate=0.25 "
        "of n_trials=8: the search stopped")
    summary = json.loads((sweep_dir / "search.json").read_text())
    assert summary["counts"]["diverged"] == 3 and len(summary["trials"]) == 3
    assert "max_failure_rate" in summary["stopped"]


@pytest.mark.parametrize("sampler", ["qmc", "gp"])
def test_added_samplers_run_a_search(tmp_path, data_root, sampler):
    from optuna.trial import TrialState

    sweep_dir = tmp_path / sampler
    out = run_cli(["train", "-m", "hydra/sweeper=optuna", "reg=dropout", *TRIAL,
                   "trainer.epochs=1", "reg.dropout.p=range(0, 1, 0.3)",
                   f"hydra.sweeper.sampler={sampler}", "hydra.sweeper.n_trials=2",
                   f"hydra.sweep.dir={sweep_dir}"], env={"REGSTUDY_DATA": str(data_root)})
    assert out.returncode == 0, out.stderr[-3000:]
    study = load_study(f"sqlite:///{sweep_dir / 'optuna.db'}")
    trials = study.get_trials()
    assert len(trials) == 2 and all(t.state == TrialState.COMPLETE for t in trials)
    recs = records(sweep_dir)
    assert {recs[n]["config"]["reg"]["dropout"]["p"] for n in recs} <= {0.0, 0.3, 0.6, 0.9}
