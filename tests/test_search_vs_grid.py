"""bench.search_vs_grid's reading of run records: the grid's best strength, the seed noise, the
epochs a search needed to reach the grid (exactly and within noise), and the verdict per search."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from bench.search_vs_grid import best_strength, curve, reach, rows, seed_noise

KEY = "reg.psp.strength"


def write_runs(sweep: Path, runs: list) -> None:
    """runs: (status, best_val_acc, epochs_run, strength) per job, numbered in order."""
    for n, (status, acc, epochs, strength) in enumerate(runs):
        (sweep / str(n)).mkdir(parents=True)
        (sweep / str(n) / "metrics.json").write_text(json.dumps(
            {"status": status, "best_val_acc": acc, "epochs_run": epochs,
             "overrides": ["seed=0", f"{KEY}={strength}"]}))


def test_best_strength_is_the_lowest_completed_error_first_on_ties(tmp_path):
    write_runs(tmp_path, [("completed", 0.90, 4, "1e-06"), ("completed", 0.95, 4, "0.001"),
                          ("completed", 0.95, 4, "0.01"), ("diverged", 0.99, 2, "0.1")])
    assert best_strength(tmp_path, KEY) == "0.001"


def test_seed_noise_is_the_sample_std_of_completed_runs(tmp_path):
    write_runs(tmp_path, [("completed", 0.95, 4, "1"), ("completed", 0.94, 4, "1"),
                          ("completed", 0.96, 4, "1"), ("failed", 0.10, 1, "1")])
    assert seed_noise(tmp_path) == pytest.approx(statistics.stdev([0.05, 0.06, 0.04]))
    one = tmp_path / "one"
    write_runs(one, [("completed", 0.95, 4, "1")])
    assert seed_noise(one) is None


def test_curve_counts_pruned_epochs_but_not_their_result(tmp_path):
    write_runs(tmp_path, [("completed", 0.90, 4, "a"), ("pruned", 0.99, 1, "b"),
                          ("completed", 0.93, 4, "c")])
    pts = curve(tmp_path)
    assert [p["epochs"] for p in pts] == [4, 5, 9]
    assert [round(p["best_val_error"], 6) for p in pts] == [0.1, 0.1, 0.07]
    assert reach(pts, 0.07) == 9 and reach(pts, 0.1) == 4 and reach(pts, 0.05) is None


def test_rows_judge_each_search_against_a_third_of_the_grid():
    grid = [{"epochs": 4 * i, "best_val_error": e} for i, e in enumerate([0.05, 0.044, 0.044], 1)]
    early = [{"epochs": 4, "best_val_error": 0.046}, {"epochs": 8, "best_val_error": 0.043}]
    late = [{"epochs": 4, "best_val_error": 0.06}, {"epochs": 8, "best_val_error": 0.046}]
    res = {"curves": {"grid": grid, "search_s0": early, "search_s1": late},
           "seed_noise": 0.003, "grid_best_strength": "0.0193"}
    first, second = rows("psp", res)
    # grid: 12 epochs, best 4.4 %; within noise means <= 4.7 %, a third is 4 epochs
    assert first.split("|")[-3:-1] == [" 4 ", " yes "]
    assert first.split("|")[-4].strip() == "8"            # exact grid best only at 8 epochs
    assert second.split("|")[-3:-1] == [" 8 ", " no "]
