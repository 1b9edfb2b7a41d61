"""A multi-objective search (validation error against training time, NSGA-II) on real MNIST:
Optuna's multi-objective study, the Pareto front in search.json, in `regstudy table --top` and
in the report; pruning disabled with a one-line note."""

from __future__ import annotations

import json

import pytest

from .conftest import run_cli
from .search_helpers import TRIAL, load_study

pytestmark = pytest.mark.slow   # real trainings


def dominates(a, b) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def test_multi_objective_search_has_a_pareto_front(tmp_path, data_root):
    sweep_dir = tmp_path / "mo"
    out = run_cli(["train", "-m", "hydra/sweeper=optuna", "reg=dropout", *TRIAL,
                   "trainer.epochs=1", "reg.dropout.p=interval(0.0, 0.8)",
                   "hydra.sweeper.objective=[best_val_error,train_seconds]",
                   "hydra.sweeper.sampler=nsgaii", "hydra.sweeper.n_trials=4",
                   f"hydra.sweep.dir={sweep_dir}"], env={"REGSTUDY_DATA": str(data_root)})
    assert out.returncode == 0, out.stderr[-3000:]
    notes = [ln for ln in (out.stdout + out.stderr).splitlines() if "pruning disabled" in ln]
    assert len(notes) == 1 and "hydra.sweeper.pruner=median ignored" in notes[0]
    study = load_study(f"sqlite:///{sweep_dir / 'optuna.db'}")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert all(not t.intermediate_values for t in study.trials)   # nothing reported to prune on
    summary = json.loads((sweep_dir / "search.json").read_text())
    assert summary["objective"] == ["best_val_error", "train_seconds"] and summary["best"] is None
    points = {t["number"]: t["values"] for t in summary["trials"] if t["state"] == "complete"}
    assert len(points) == 4
    front = {t["number"] for t in summary["pareto_front"]}
    for n, values in points.items():   # the front is exactly the non-dominated trials
        assert (n in front) == (not any(dominates(v, values) for v in points.values()))
    for n, t in ((t["number"], t) for t in summary["pareto_front"]):
        rec = json.loads((sweep_dir / str(n) / "metrics.json").read_text())
        assert t["values"] == [pytest.approx(1 - rec["best_val_acc"]), rec["train_seconds"]]
    table = run_cli(["table", str(sweep_dir), "--top", "--csv"]).stdout.strip().splitlines()
    header = table[0].split(",")
    assert header[:5] == ["rank", "trial", "status", "best_val_error", "train_seconds"]
    assert sorted(int(r.split(",")[1]) for r in table[1:]) == sorted(front)
    page = tmp_path / "r.html"
    assert run_cli(["report", str(sweep_dir), "--out", str(page)]).returncode == 0
    html = page.read_text()
    assert "Pareto front (best_val_error, train_seconds" in html and html.count("data:image") >= 2
