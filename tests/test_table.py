"""`regstudy table`: grouping, statistics against scipy, runs that did not complete, outputs.

Runs are metrics.json files written here in the format RunRecord writes, so every expected
number is computed by hand from the values the test chose. No torch, no training.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from regstudy.report import stats
from regstudy.report.render import render
from regstudy.report.runs import load_runs, parse_overrides
from regstudy.report.table import BaselineError, parse_baseline, summarize
from regstudy.threads import threads_per_job

from .conftest import cli_in_process

ERRORS = {"none": [0.10, 0.12, 0.11], "l2": [0.08, 0.09, 0.07, 0.085]}


def write_run(run_dir: Path, overrides: List[str], status: str = "completed",
              test_error: Optional[float] = None, **fields) -> Path:
    """A metrics.json as RunRecord writes it (only the keys the table reads, plus history)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = next((int(o.split("=")[1]) for o in overrides if o.startswith("seed=")), 0)
    record: Dict = {"status": status, "overrides": overrides, "seed": seed, "history": [],
                    "config": {}, "wall_time_s": 12.5, **fields}
    if test_error is not None:
        record.update(test_error=test_error, test_acc=1 - test_error, best_epoch=2,
                      best_val_acc=0.9, epochs_run=3,
                      history=[{"epoch": e, "train_acc": 0.9 + e / 100} for e in (1, 2, 3)])
    (run_dir / "metrics.json").write_text(json.dumps(record))
    return run_dir


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """reg=none (3 seeds) and reg=l2 (4 seeds) completed, plus one failed, one diverged and
    one killed (still `running`) l2 run; paths and hydra keys differ and must not split groups."""
    job = 0
    for reg, errors in ERRORS.items():
        for seed, err in enumerate(errors):
            overrides = [f"reg={reg}", f"seed={seed}", "trainer.epochs=3",
                         f"dataset.root=/data{job}", "hydra.sweep.dir=x"]
            write_run(tmp_path / str(job), overrides, test_error=err)
            job += 1
    base = ["reg=l2", "trainer.epochs=3"]
    write_run(tmp_path / str(job), base + ["seed=7"], "failed", error="RuntimeError: boom\ntrace")
    write_run(tmp_path / str(job + 1), base + ["seed=8"], "diverged",
              diverged_at={"epoch": 1, "step": 5}, epochs_run=1)
    write_run(tmp_path / str(job + 2), base + ["seed=9"], "running",
              history=[{"epoch": 1, "train_acc": 0.5}])
    return tmp_path


def test_counts_means_and_intervals_match_a_hand_computation(sweep):
    table = summarize(load_runs([sweep]), "test_error", parse_baseline("reg=none"))
    assert table.keys == ["reg"] and table.common == {"trainer.epochs": "3"}
    g = table.groups.set_index("reg")
    for reg, errors in ERRORS.items():
        x = np.array(errors)
        assert g.loc[reg, "n"] == len(x)
        assert g.loc[reg, "mean"] == pytest.approx(x.mean())
        assert g.loc[reg, "std"] == pytest.approx(x.std(ddof=1))
        lo, hi = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
        assert g.loc[reg, "ci_low"] == pytest.approx(lo)
        assert g.loc[reg, "ci_high"] == pytest.approx(hi)
    assert g.loc["l2", ["failed", "diverged", "running"]].tolist() == [1, 1, 1]
    assert g.loc["none", ["failed", "diverged", "running"]].tolist() == [0, 0, 0]
    assert g.loc["l2", "diff"] == pytest.approx(np.mean(ERRORS["l2"]) - np.mean(ERRORS["none"]))
    assert g.loc["l2", "p_value"] == pytest.approx(
        sps.ttest_ind(ERRORS["l2"], ERRORS["none"], equal_var=False).pvalue, rel=1e-9)
    assert bool(g.loc["none", "baseline"]) and math.isnan(g.loc["none", "p_value"])


@pytest.mark.parametrize("seed", range(5))
def test_welch_p_and_t_interval_equal_scipy(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.1, 0.02, size=3 + seed)
    b = rng.normal(0.1 + 0.01 * seed, 0.05, size=7 - seed)
    expected = sps.ttest_ind(a, b, equal_var=False).pvalue
    assert stats.welch_p(a, b) == pytest.approx(expected, rel=1e-9)
    s = stats.summarize(a, 0.9)
    lo, hi = sps.t.interval(0.9, a.size - 1, loc=a.mean(), scale=sps.sem(a))
    assert (s.ci_low, s.ci_high) == (pytest.approx(lo), pytest.approx(hi))


def test_statistics_are_nan_where_undefined():
    assert math.isnan(stats.welch_p([0.1], [0.2, 0.3]))          # one seed: no spread
    assert math.isnan(stats.welch_p([0.1, 0.1], [0.2, 0.2]))     # no spread on either side
    one = stats.summarize([0.25])
    assert one.n == 1 and one.mean == 0.25 and math.isnan(one.std) and math.isnan(one.ci_low)
    assert stats.summarize([]).n == 0


def test_runs_that_did_not_complete_are_listed_not_dropped(sweep):
    text = render([sweep], baseline="reg=none")
    assert "10 runs (7 completed, 1 failed, 1 diverged, 1 running)" in text
    assert "1 diverged, 1 failed, 1 running" in text            # the l2 row's count column
    for job, words in ((7, "failed"), (8, "diverged"), (9, "running")):
        line = next(ln for ln in text.splitlines() if ln.startswith(f"- {words}:"))
        assert line.split(": ", 1)[1].startswith(str((sweep / str(job)).resolve()))
    assert "RuntimeError: boom" in text and "trace" not in text  # first line of the error only
    assert "loss non-finite at epoch 1 step 5" in text
    assert "killed after 1 epoch(s)" in text


def test_counts_of_a_seeds_only_sweep_are_whole_numbers(tmp_path):
    """One group (only the seed varies): its row is all numbers, and counts stay integers."""
    write_run(tmp_path / "0", ["reg=none", "seed=0"], test_error=0.2)
    write_run(tmp_path / "1", ["reg=none", "seed=1"], test_error=0.3)
    write_run(tmp_path / "2", ["reg=none", "seed=2"], "interrupted")
    text = render([tmp_path])
    row = next(line for line in text.splitlines() if line.startswith("| all"))
    assert row.rstrip(" |").endswith("| 1 interrupted"), row
    assert "3 runs (2 completed, 1 interrupted)" in text


def test_jobs_without_a_record_are_missing_and_unreadable_records_listed(tmp_path):
    write_run(tmp_path / "0", ["reg=none", "seed=0"], test_error=0.2)
    hydra_only = tmp_path / "1" / ".hydra"                      # died before its first record
    hydra_only.mkdir(parents=True)
    (hydra_only / "overrides.yaml").write_text("- reg=l2\n- seed=0\n")
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "metrics.json").write_text("{truncated")
    (tmp_path / "sweep_plan.json").write_text(json.dumps({"jobs": [
        {"num": 3, "subdir": "3", "overrides": ["reg=l2", "seed=1"]}]}))  # never started
    runs = load_runs([tmp_path]).set_index(pd.Index(["0", "1", "2", "3"]))
    assert runs["status"].tolist() == ["completed", "missing", "unreadable", "missing"]
    table = summarize(load_runs([tmp_path]))
    g = table.groups.set_index("reg")
    assert g.loc["l2", "missing"] == 2 and g.loc["l2", "n"] == 0
    assert len(g) == 2                 # the unreadable run (config unknown) joins no group
    assert table.status_counts == {"completed": 1, "missing": 2, "unreadable": 1}


def test_groups_by_every_varying_key_and_compares_within_the_other_keys(tmp_path):
    values = {("vgg08", "none"): [0.40, 0.42], ("vgg08", "bn"): [0.35, 0.36],
              ("vgg38", "none"): [0.99, 0.98], ("vgg38", "bn"): [0.30, 0.33]}
    job = 0
    for (model, reg), errors in values.items():
        for seed, err in enumerate(errors):
            overrides = [f"model={model}", f"reg={reg}", f"seed={seed}"]
            write_run(tmp_path / str(job), overrides, test_error=err)
            job += 1
    table = summarize(load_runs([tmp_path]), baseline={"reg": "none"})
    g = table.groups.set_index(["model", "reg"])
    assert len(g) == 4
    for model in ("vgg08", "vgg38"):
        expected = np.mean(values[(model, "bn")]) - np.mean(values[(model, "none")])
        assert g.loc[(model, "bn"), "diff"] == pytest.approx(expected)


def test_a_single_run_is_one_group(tmp_path):
    write_run(tmp_path / "run", ["reg=l2"], test_error=0.3)
    table = summarize(load_runs([tmp_path / "run"]))
    assert table.keys == [] and table.groups["n"].tolist() == [1]
    assert "| all" in render([tmp_path / "run"])


def test_overrides_that_do_not_change_results_are_ignored():
    overrides = ["seed=3", "dataset.root=/x", "hydra.run.dir=y", "trainer.device=cpu",
                 "+reg.l2.strength=1", "trainer.progress=lines"]
    assert parse_overrides(overrides) == {"reg.l2.strength": "1"}


@pytest.mark.parametrize("metric, column, expected", [
    ("test_acc", "test_acc", 1 - np.mean(ERRORS["none"])),
    ("gap", "gap", np.mean([0.92 - (1 - e) for e in ERRORS["none"]])),  # train acc of best epoch 2
    ("epochs", "epochs", 3.0),
    ("time", "time", 12.5),
])
def test_other_metrics(sweep, metric, column, expected):
    g = summarize(load_runs([sweep]), metric).groups.set_index("reg")
    assert g.loc["none", "mean"] == pytest.approx(expected)


def test_bad_baselines_are_explained(sweep):
    runs = load_runs([sweep])
    with pytest.raises(BaselineError, match="model does not vary"):
        summarize(runs, baseline={"model": "x"})
    with pytest.raises(BaselineError, match="no run has it.*values of reg: l2, none"):
        summarize(runs, baseline={"reg": "psp"})


def test_cli_formats_and_errors(sweep, tmp_path):
    csv = cli_in_process(["table", str(sweep), "--csv", "--baseline", "reg=none"])
    assert csv.returncode == 0, csv.stderr
    frame = pd.read_csv(pd.io.common.StringIO(csv.stdout)).set_index("reg")
    assert frame.loc["none", "mean"] == pytest.approx(np.mean(ERRORS["none"]))  # raw, not percent
    latex = cli_in_process(["table", str(sweep), "--latex"])
    assert latex.returncode == 0
    assert "\\toprule" in latex.stdout and "test error (\\%)" in latex.stdout
    md = cli_in_process(["table", str(sweep), "--metric", "test_acc"])
    assert md.returncode == 0 and "test acc (%)" in md.stdout.splitlines()[0]
    for args, message in (([str(tmp_path / "nope")], "no such directory"),
                          ([str(sweep), "--baseline", "reg=psp"], "no run has it")):
        bad = cli_in_process(["table", *args])
        assert bad.returncode == 2 and message in bad.stderr


def test_table_does_not_import_torch(sweep):
    code = ("import sys; from regstudy.cli import main; main(['table', sys.argv[1]]); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    out = subprocess.run([sys.executable, "-c", code, str(sweep)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


JOBLIB = "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"
SUBMITIT = "hydra_plugins.hydra_submitit_launcher.submitit_launcher."


@pytest.mark.parametrize("launcher, cpus, expected", [
    ({"_target_": JOBLIB, "n_jobs": -1}, 8, 1),      # one job per CPU
    ({"_target_": JOBLIB, "n_jobs": 2}, 8, 4),
    ({"_target_": JOBLIB, "n_jobs": -3}, 8, 1),      # 6 jobs at once
    ({"_target_": JOBLIB, "n_jobs": 3}, 8, 2),
    ({"_target_": JOBLIB, "n_jobs": 4}, 2, 1),       # never below one thread
    ({"_target_": SUBMITIT + "SlurmLauncher", "cpus_per_task": 6}, 64, 6),
    ({"_target_": SUBMITIT + "LocalLauncher", "cpus_per_task": None}, 8, None),
    ({"_target_": "hydra._internal.core_plugins.basic_launcher.BasicLauncher"}, 8, None),
])
def test_threads_per_job(launcher, cpus, expected):
    assert threads_per_job(launcher, cpus) == expected


def test_threads_per_job_counts_only_the_jobs_the_sweep_has():
    joblib = {"_target_": JOBLIB, "n_jobs": -1}
    assert threads_per_job(joblib, 16, sweep_jobs=3) == 5
    assert threads_per_job(joblib, 16, sweep_jobs=40) == 1


def _paired_sweep(root: Path) -> Path:
    """none and psp over the same 4 seeds; each seed's noise is shared by both arms."""
    shared = [0.004, -0.003, 0.002, -0.001]
    for seed, s in enumerate(shared):
        for reg, level in (("none", 0.10), ("psp", 0.095)):
            write_run(root / f"{reg}{seed}", [f"reg={reg}", f"seed={seed}"],
                      test_error=level + s + 0.0002 * (-1) ** seed * (reg == "psp"))
    return root


def test_paired_table_uses_per_seed_differences_and_says_so(tmp_path):
    runs = load_runs([_paired_sweep(tmp_path)])
    welch = summarize(runs, "test_error", {"reg": "none"}).groups.set_index("reg")
    paired = summarize(runs, "test_error", {"reg": "none"}, paired=True).groups.set_index("reg")
    none = runs[runs.overrides.map(lambda o: o["reg"] == "none")].sort_values("seed")
    psp = runs[runs.overrides.map(lambda o: o["reg"] == "psp")].sort_values("seed")
    ref = sps.ttest_rel(psp["test_error"], none["test_error"])
    assert paired.loc["psp", "method"] == "paired"
    assert paired.loc["psp", "p_value"] == pytest.approx(ref.pvalue)
    assert paired.loc["psp", "p_value"] < welch.loc["psp", "p_value"]
    assert paired.loc["psp", "mde"] < welch.loc["psp", "mde"]
    text = render([tmp_path], baseline="reg=none", paired=True, sesoi=0.5)
    assert "diff 95% CI (paired)" in text and "MDE (80% power)" in text
    assert "seeds to detect 0.50" in text and "paired t-test over per-seed differences" in text


def test_an_interval_wider_than_the_metric_range_is_called_uninformative(tmp_path):
    for seed, err in enumerate([0.05, 0.60]):
        write_run(tmp_path / str(seed), ["reg=none", f"seed={seed}"], test_error=err)
    text = render([tmp_path])
    assert "uninformative (n=2)" in text and "-" not in text.split("\n")[2].split("|")[4]


def test_sampled_float_labels_print_three_significant_digits(tmp_path):
    for seed, value in enumerate(["0.00012345678901234567", "0.0031622776601683794"]):
        write_run(tmp_path / str(seed), [f"reg.l2.strength={value}", "seed=0"],
                  test_error=0.1)
    text = render([tmp_path])
    assert "| 0.000123 " in text and "| 0.00316 " in text and "0.0001234567" not in text
    assert "0.00012345678901234567" in render([tmp_path], fmt="csv")
