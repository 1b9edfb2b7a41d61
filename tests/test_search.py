"""The Optuna sweeper end to end, on real MNIST subsets: trials through the basic and joblib
launchers agree with the study and search.json, the same seed samples the same values,
pruning stops a trial that cannot learn, `regstudy table` ranks the trials."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import read_metrics, run_cli
from .search_helpers import TRIAL, load_study, records, search

pytestmark = pytest.mark.slow   # real trainings in several processes


@pytest.fixture(scope="module")
def basic_search(tmp_path_factory, data_root) -> Path:
    sweep_dir = tmp_path_factory.mktemp("basic") / "search"
    out = search(sweep_dir, data_root, "hydra.sweeper.seed=7")
    assert out.returncode == 0, out.stderr[-3000:]
    return sweep_dir


def sampled(sweep_dir: Path) -> list:
    summary = json.loads((sweep_dir / "search.json").read_text())
    return [t["params"]["reg.l2.strength"] for t in sorted(summary["trials"],
                                                           key=lambda t: t["number"])]


def check_agreement(sweep_dir: Path) -> dict:
    """Trial dirs, their metrics.json, the study and search.json tell the same story."""
    from optuna.trial import TrialState

    summary = json.loads((sweep_dir / "search.json").read_text())
    study = load_study(f"sqlite:///{sweep_dir / 'optuna.db'}")
    trials = {t.number: t for t in study.get_trials()}
    recs = records(sweep_dir)
    assert sorted(trials) == sorted(recs) == [0, 1, 2, 3]
    for number, trial in trials.items():
        rec = recs[number]
        assert rec["status"] == "completed" and trial.state == TrialState.COMPLETE
        assert trial.value == rec["best_val_acc"]
        # the job itself reported each epoch to the study (pruning works in worker processes)
        assert trial.intermediate_values == {r["epoch"]: r["val_acc"] for r in rec["history"]}
        assert rec["search"]["params"] == trial.params
        strength = trial.params["reg.l2.strength"]
        assert 1e-6 <= strength <= 1e-1
        assert rec["config"]["reg"]["l2"]["strength"] == pytest.approx(strength)
        assert Path(trial.user_attrs["run_dir"]) == sweep_dir / str(number)
    assert summary["counts"] == {"complete": 4, "pruned": 0, "failed": 0, "diverged": 0}
    best = max(trials.values(), key=lambda t: t.value)
    assert summary["best"]["number"] == best.number and summary["best"]["value"] == best.value
    assert summary["best"]["overrides"] == [f"reg.l2.strength={best.params['reg.l2.strength']}"]
    assert best.value > 0.3          # chance is 0.1: the trials learned
    return summary


def test_basic_launcher_search(basic_search):
    check_agreement(basic_search)


def test_table_ranks_trials_by_objective(basic_search):
    out = run_cli(["table", str(basic_search), "--csv"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","))) for line in lines[1:]]
    values = [float(r["best_val_acc"]) for r in rows]
    assert values == sorted(values, reverse=True) and len(rows) == 4
    assert [r["rank"] for r in rows] == ["1", "2", "3", "4"]
    top = run_cli(["table", str(basic_search), "--top", "2", "--csv"])
    assert len(top.stdout.strip().splitlines()) == 3
    assert (basic_search / "table.md").read_text() == run_cli(["table", str(basic_search)]).stdout


def test_joblib_launcher_same_seed_same_samples(basic_search, tmp_path, data_root):
    sweep_dir = tmp_path / "joblib"
    out = search(sweep_dir, data_root, "hydra.sweeper.seed=7", "hydra/launcher=joblib",
                 "hydra.launcher.n_jobs=2")
    assert out.returncode == 0, out.stderr[-3000:]
    check_agreement(sweep_dir)
    assert out.stdout.count("is launching 1 jobs") == 4     # two slots, each trial alone
    assert sampled(sweep_dir) == sampled(basic_search)


def test_pruning_stops_a_trial_that_cannot_learn(tmp_path, data_root):
    """Trial 0 (lr 0.1) learns. Trial 1 (lr 1e5) diverges: recorded diverged (a failed trial),
    and the search goes on. Trial 2 (lr 1e-6) cannot learn, and the median pruner stops it
    after its first epoch: status pruned in metrics.json, the study, search.json and table."""
    import optuna
    from optuna.trial import TrialState

    sweep_dir = tmp_path / "prune"
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    sweep_dir.mkdir()
    study = optuna.create_study(storage=storage, study_name="regstudy", direction="maximize")
    study.enqueue_trial({"optim.lr": 0.1})
    study.enqueue_trial({"optim.lr": 1e5})
    study.enqueue_trial({"optim.lr": 1e-6})
    out = run_cli(["train", "-m", "hydra/sweeper=optuna", *TRIAL, "trainer.epochs=3",
                   "optim.lr=tag(log, interval(1e-7, 1e6))", "hydra.sweeper.n_trials=3",
                   "hydra.sweeper.pruner=median", "+hydra.sweeper.pruner_options.n_startup_trials=1",
                   f"hydra.sweep.dir={sweep_dir}"], env={"REGSTUDY_DATA": str(data_root)})
    assert out.returncode == 0, out.stderr[-3000:]
    good, bad = read_metrics(sweep_dir / "0"), read_metrics(sweep_dir / "2")
    assert good["status"] == "completed" and good["epochs_run"] == 3
    assert bad["status"] == "pruned" and bad["epochs_run"] < 3
    assert "median pruner" in bad["stop_reason"] and len(bad["history"]) == bad["epochs_run"]
    assert not (sweep_dir / "2" / "checkpoint.pt").exists() and "test_acc" not in bad
    states = {t.number: t.state for t in load_study(storage).get_trials()}
    assert read_metrics(sweep_dir / "1")["status"] == "diverged"
    assert states == {0: TrialState.COMPLETE, 1: TrialState.FAIL, 2: TrialState.PRUNED}
    summary = json.loads((sweep_dir / "search.json").read_text())
    assert summary["counts"] == {"complete": 1, "pruned": 1, "failed": 0, "diverged": 1}
    table = run_cli(["table", str(sweep_dir), "--csv"]).stdout.splitlines()
    assert [row.split(",")[2] for row in table[1:]] == ["completed", "pruned", "diverged"]
    # Re-running the search keeps the pruned trial: the study is complete.
    again = run_cli(["train", "-m", "hydra/sweeper=optuna", *TRIAL, "trainer.epochs=3",
                     "optim.lr=tag(log, interval(1e-7, 1e6))", "hydra.sweeper.n_trials=3",
                     f"hydra.sweep.dir={sweep_dir}"], env={"REGSTUDY_DATA": str(data_root)})
    assert again.returncode == 0 and len(load_study(storage).get_trials()) == 3


def test_grid_stops_at_its_size_and_a_refused_value_fails_only_its_trial(tmp_path, data_root):
    """Grid over choice(0.2, 1.5): n_trials=5 is capped at the 2 grid points; p=1.5 fails the
    config check, so that trial fails without a run (listed with the reason), the other runs."""
    sweep_dir = tmp_path / "grid"
    out = run_cli(["train", "-m", "hydra/sweeper=optuna", "reg=dropout", *TRIAL,
                   "reg.dropout.p=choice(0.2, 1.5)", "hydra.sweeper.sampler=grid",
                   "hydra.sweeper.n_trials=5", f"hydra.sweep.dir={sweep_dir}"],
                  env={"REGSTUDY_DATA": str(data_root)})
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads((sweep_dir / "search.json").read_text())
    assert summary["counts"] == {"complete": 1, "pruned": 0, "failed": 1, "diverged": 0}
    assert summary["best"]["params"] == {"reg.dropout.p": 0.2}
    failed = next(t for t in summary["trials"] if t["state"] == "fail")
    assert failed["params"] == {"reg.dropout.p": 1.5} and "probability" in failed["error"]
    assert not (sweep_dir / str(failed["number"])).exists()
    table = run_cli(["table", str(sweep_dir), "--csv"]).stdout.splitlines()
    assert [row.split(",")[2] for row in table[1:]] == ["completed", "failed"]
