"""`regstudy study`: the declaration, its checks, the stage commands, the arm configs, the
dry-run estimate, and stages 2-3 (plus resume) on real MNIST subsets."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from regstudy.cli.study import load, main, quote_spaces
from regstudy.study.arms import ablation_arms, arm_node, write_arm
from regstudy.study.commands import final_overrides, grid_overrides, tune_overrides
from regstudy.study.compose import Composer
from regstudy.study.estimate import Timing, cpu_seconds, run_counts
from regstudy.study.plan_text import print_plan
from regstudy.study.spec import Arm

from .conftest import REPO, read_metrics

TINY_STUDY = ["dataset.subset=300", "dataset.val_size=300", "dataset.test_subset=300",
              "trainer.batch_size=50", "trainer.eval_batch_size=300", "diag.enabled=false",
              "study.tune.epochs=1", "study.final.epochs=1"]


def _study(overrides):
    study, base, _ = load(overrides)
    return study, base


def test_kung_preset_declares_every_arm_with_only_its_own_knobs():
    study, _ = _study(["experiment=kung_regularization"])
    arms = {a.name: a for a in study.arms}
    assert study.arms[0].name == "none" == study.baseline
    assert set(arms) == {"none", "l2", "dropout", "bn", "l2_dropout", "l2_bn", "dropout_bn",
                         "l2_dropout_bn"}
    assert not arms["none"].tuned and not arms["bn"].tuned
    assert set(arms["l2"].space) == {"reg.l2.strength"}
    assert set(arms["dropout_bn"].space) == {"reg.dropout.p"}
    assert set(arms["l2_dropout_bn"].space) == {"reg.l2.strength", "reg.dropout.p"}
    assert arms["l2"].space["reg.l2.strength"].startswith("tag(log")
    assert arms["l2"].grid == {"reg.l2.strength": "0.01,0.1,1,10"}
    assert study.tune["seed"] not in study.seeds and len(study.seeds) >= 5


@pytest.mark.parametrize("preset", ["psp_mnist", "psp_fmnist"])
def test_psp_presets_declare_studies(preset):
    study, _ = _study([f"experiment={preset}"])
    assert {a.name for a in study.arms} == {"none", "weight_decay", "dropout", "psp"}
    assert set(study.arm("psp").space) == {"reg.psp.strength"}
    assert len(study.seeds) >= 3


def test_only_selects_arms_and_keeps_the_baseline_first():
    study, _ = _study(["experiment=kung_regularization", "study.only=[l2,dropout]"])
    assert [a.name for a in study.arms] == ["none", "l2", "dropout"]


def test_space_override_from_the_command_line_is_a_string_not_a_sweep():
    study, _ = _study(["experiment=kung_regularization",
                       "study.space.reg.l2.strength=tag(log, interval(1e-8, 1))"])
    assert study.arm("l2").space["reg.l2.strength"] == "tag(log, interval(1e-8, 1))"
    assert quote_spaces(["study.only=[a]"]) == ["study.only=[a]"]


@pytest.mark.parametrize("override,message", [
    ("+study.arms.bad=[l3]", "study.arms.bad: unknown regularizer 'l3'"),
    ("+study.arm_space.l2.reg.dropout.p=interval(0.1, 0.5)",
     "arm l2 (reg=[l2]) has no knob reg.dropout.p"),
    ("study.final.seeds=1", "study.final.seeds=1: need at least 2 seeds"),
    ("+study.space.reg.l2.strenght=interval(0.1, 0.5)", "no arm has this knob"),
    ("study.space.reg.dropout.p=0.3", "not a search space"),
    ("study.tune.seed=1001", "is one of the final seeds"),
    ("study.only=[nope]", "'nope'"),
    ("reg.l2.strength=1", "the arms set the regularizers"),
    ("seed=3", "the study sets the seeds"),
    ("study.tune.objective=test_acc", "the test set is never used to choose"),
    ("study.tune.objective=val_acc", "is not a metric of the run record"),
    ("study.sesoi=0", "study.sesoi=0.0 must be > 0"),
    ("study.sesoi=-0.1", "must be > 0"),
    ("study.final.seeds=many", "give a number of seeds or auto"),
    ("+foo=1", "foo is not a key of the config; allowed keys: dataset,"),
    ("model=nosuchmodel", "model=nosuchmodel is not an option of model; choose one of:"),
])
def test_bad_input_is_one_line_and_exit_2_before_anything_runs(tmp_path, capsys, override,
                                                               message):
    out = tmp_path / "study"
    code = main(["experiment=kung_regularization", override, "--dir", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


@pytest.mark.parametrize("overrides,message", [
    (["study.sesoi=null"], "study.final.seeds=auto needs study.sesoi"),
    (["study.final.min_seeds=6", "study.final.max_seeds=4"], "need 2 <= min_seeds <= max_seeds"),
    (["study.final.looks=[2,5,8]"], "every look must lie in [min_seeds, max_seeds] = [3, 8]"),
    (["study.final.looks=[3,5,9]"], "every look must lie in"),
    (["study.final.spending=linear"], "study.final.spending=linear: choose from obf, pocock"),
    (["study.claims=[{arm: psp, than: [nosuch]}]"], "arm 'nosuch' is not in this study"),
    (["study.claims=[{arm: psp, metric: val_loss}]"], "metric 'val_loss': choose from"),
    (["study.claims=[{arm: psp, expect: smaller}]"], "expect 'smaller': choose from"),
])
def test_sequential_and_claim_bad_input_is_one_line_exit_2(tmp_path, capsys, overrides, message):
    out = tmp_path / "study"
    code = main(["experiment=psp_mnist", "study.final.seeds=auto", "study.sesoi=0.1",
                 *overrides, "--dir", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_experiment_without_a_study_is_refused(capsys):
    assert main(["experiment=vgg_cifar100", "--dry-run"]) == 2
    assert "declares no study" in capsys.readouterr().err


def test_stage_commands(tmp_path):
    study, base = _study(["experiment=kung_regularization", "dataset=fashion_mnist",
                          "study.tune.trials=7", "study.final.seeds=3"])
    l2 = study.arm("l2")
    tune = tune_overrides(study, l2, base, tmp_path / "tune" / "l2")
    assert tune[:3] == ["experiment=kung_regularization", "dataset=fashion_mnist", "reg=[l2]"]
    assert "reg.l2.strength=tag(log, interval(1e-7, 1e-1))" in tune
    assert {"hydra/sweeper=optuna", "hydra.sweeper.n_trials=7", "seed=0", "trainer.epochs=10",
            "hydra.sweeper.objective=best_val_acc",
            "hydra/launcher=joblib", f"hydra.sweep.dir={tmp_path / 'tune' / 'l2'}"} <= set(tune)
    assert not any(o.startswith("reg.dropout") for o in tune)
    assert not any(o.startswith("hydra.sweeper.direction") for o in tune)  # the objective's own
    assert "+hydra.sweeper.sampler_options.n_startup_trials=2" in tune     # 0.3 x 7 trials
    assert "+hydra.sweeper.pruner_options.n_warmup_steps=2" in tune        # not on epoch 1
    final = final_overrides(study, ["none", "l2"], base, tmp_path / "conf", tmp_path / "final",
                            "none")
    assert "+arm=none,l2" in final and "seed=1000,1001,1002" in final
    assert "trainer.epochs=50" in final
    grid = grid_overrides(study, l2, base, tmp_path / "grid")
    assert "reg.l2.strength=0.01,0.1,1,10" in grid and "seed=0" in grid


def test_arm_config_sets_the_tuned_values_and_turns_off_the_presets_regularizer(tmp_path):
    with Composer(["experiment=psp_mnist"]) as composer:
        node = arm_node(composer, ["l2_wd"], ["reg.l2.strength=0.0003", "optim.lr=0.05"])
        write_arm(tmp_path, "weight_decay", node, "test")
        cfg = composer.compose([f"hydra.searchpath=[file://{tmp_path}]", "+arm=weight_decay"])
    assert cfg.reg.psp is None and cfg.reg.l2.strength == 0.0003
    assert cfg.reg.l2.mode == "weight_decay" and cfg.optim.lr == 0.05


def test_remove_one_ablation_keeps_only_the_knobs_left():
    source = Arm("all", ["l2", "dropout", "bn_before_relu"])
    with Composer(["experiment=kung_regularization"]) as composer:
        arms = ablation_arms(composer, source, ["reg.l2.strength=0.001", "reg.dropout.p=0.3"])
    got = {a.name: (a.regs, ov) for a, ov in arms}
    assert got == {
        "all_minus_l2": (["dropout", "bn_before_relu"], ["reg.dropout.p=0.3"]),
        "all_minus_dropout": (["l2", "bn_before_relu"], ["reg.l2.strength=0.001"]),
        "all_minus_bn_before_relu": (["l2", "dropout"],
                                     ["reg.l2.strength=0.001", "reg.dropout.p=0.3"])}


def test_run_counts_and_cpu_time_extrapolate_from_the_timing():
    study, _ = _study(["experiment=kung_regularization", "study.only=[l2,bn]",
                       "study.tune.trials=4", "study.final.seeds=3", "study.ablation=",
                       "study.grid.enabled=true", "study.grid.seeds=2"])
    counts = run_counts(study)
    assert counts["tune"] == {"runs": 4, "epochs": 10}          # only l2 has a knob
    assert counts["final"] == {"runs": 9, "epochs": 50}         # none, l2, bn x 3 seeds
    assert counts["grid"] == {"runs": 8, "epochs": 10}          # 4 strengths x 2 seeds
    timing = Timing(seconds_per_step=0.01, steps_per_epoch=100, eval_images_per_epoch=300,
                    test_images=600, batch_size=30, overhead_s=2.0)
    per_run = timing.run_seconds(10)
    epoch = 100 * 0.01 + 300 / 30 * 0.01 / 3                    # train steps + validation
    assert per_run == pytest.approx(2.0 + 10 * epoch + 2 * 600 / 30 * 0.01 / 3)
    assert cpu_seconds(counts, timing)["tune"] == pytest.approx(4 * per_run)


def test_plan_names_the_launcher_given_on_the_command_line(tmp_path, capsys):
    study, base = _study(["experiment=kung_regularization", "study.only=[l2]",
                          "hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug"])
    assert study.launcher == []                 # the command line's launcher replaces the preset's
    assert print_plan(study, base, tmp_path / "s", lambda o, r: Timing(0.01, 10, 30, 60, 30, 1.0)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "launcher: hydra/launcher=submitit_slurm hydra.launcher.partition=debug" in lines


def test_plan_lists_arms_spaces_budgets_and_the_extrapolated_time(tmp_path, capsys):
    study, base = _study(["experiment=kung_regularization", "study.only=[l2,bn]",
                          "study.tune.trials=4", "study.final.seeds=3", "study.ablation="])
    timing = Timing(0.01, 100, 300, 600, 30, 2.0)
    seen = []

    def timing_run(overrides, regs):
        seen.append(regs)
        return timing

    assert print_plan(study, base, tmp_path / "s", timing_run) == 0
    text = capsys.readouterr().out
    assert seen == [["l2"]]                     # the heaviest arm; not the unregularized one
    assert "bn               reg=[bn_before_relu]  nothing to tune" in text
    assert "runs tune: 4 x at most 10 epochs" in text and "runs final: 9 x at most 50" in text
    total = 4 * timing.run_seconds(10) + 9 * timing.run_seconds(50)
    assert f"CPU time total: at most {total / 60:.1f} min" in text
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_dry_run_prints_the_plan_and_an_estimate_and_writes_nothing(tmp_path, capsys, mnist_root):
    out = tmp_path / "study"
    code = main(["experiment=kung_regularization", *TINY_STUDY, "study.only=[l2]",
                 "study.tune.trials=3", "--dir", str(out), "--dry-run"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "reg.l2.strength ~ tag(log" in text and "runs tune: 3 x at most 1 epochs" in text
    assert "runs final: 10 x at most 1 epochs" in text          # none, l2 x 5 seeds
    assert "CPU time total: at most" in text and "ms/step" in text
    assert not out.exists()


def _mtimes(root: Path) -> dict:
    return {p.parent: p.stat().st_mtime_ns for p in root.rglob("metrics.json")}


def _start_and_kill_after_tuning(argv: list, search_json: Path) -> int:
    """Run `regstudy study ARGV` as a user would and SIGTERM it once stage 1 has finished."""
    proc = subprocess.Popen([sys.executable, "-m", "regstudy.cli", "study", *argv], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not search_json.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=300)


@pytest.mark.slow
def test_tiny_study_end_to_end_then_resumes_without_retraining(tmp_path, capsys, mnist_root):
    """Two arms (none, l2), 2 Optuna trials, 1 epoch, 2 final seeds on a few hundred real MNIST
    images: killed after stage 1, the same command finishes without re-running a trial; after
    losing one final run, it retrains that run only."""
    out = tmp_path / "study"
    argv = ["experiment=kung_regularization", *TINY_STUDY, "study.only=[l2]",
            "study.tune.trials=2", "study.final.seeds=2", "study.ablation=",
            "study.tune.confirm_top=0", "hydra/launcher=basic", "--dir", str(out)]
    assert _start_and_kill_after_tuning(argv, out / "tune" / "l2" / "search.json") != 0
    assert not (out / "study.json").exists()
    tuned = _mtimes(out / "tune")
    assert len(tuned) == 2
    assert main(argv) == 0, capsys.readouterr().err
    assert "tune l2: finished before" in capsys.readouterr().out
    assert _mtimes(out / "tune") == tuned                        # no trial re-run
    search = json.loads((out / "tune" / "l2" / "search.json").read_text())
    assert search["n_trials"] == 2 and sum(search["counts"].values()) == 2
    assert not (out / "tune" / "none").exists()                  # nothing to tune
    chosen = search["best"]["params"]["reg.l2.strength"]
    assert 1e-7 <= chosen <= 1e-1
    finals = sorted(p.parent for p in (out / "final").glob("*/metrics.json"))
    records = [read_metrics(r) for r in finals]
    assert sorted((r["seed"], r["config"]["reg"]["l2"] is not None) for r in records) == \
        [(1000, False), (1000, True), (1001, False), (1001, True)]   # fresh seeds, not seed 0
    assert all(r["status"] == "completed" and r["test_acc"] > 0.3 for r in records)  # learned
    assert {r["config"]["reg"]["l2"]["strength"] for r in records if r["config"]["reg"]["l2"]} \
        == {chosen}
    table = (out / "table.md").read_text()
    assert "| none" in table and "| l2" in table and "baseline" in table
    doc = json.loads((out / "study.json").read_text())
    assert doc["arms"]["l2"]["chosen"] == search["best"]["overrides"]
    assert doc["arms"]["l2"]["tuning"]["trials"] == 2 and doc["arms"]["l2"]["final"]["n"] == 2
    assert doc["arms"]["none"]["final"]["n"] == 2 and "tuning" not in doc["arms"]["none"]
    assert (out / "study.md").read_text().count("| l2 |") == 1
    page = (out / "report.html").read_text()
    assert "4 runs (4 completed)" in page                        # the final runs, not trials
    assert search["best"]["overrides"][0] in page               # the value the arm got

    before = _mtimes(out)
    lost = finals[-1]
    shutil.rmtree(lost)                                          # as if killed before it ran
    assert main(argv) == 0
    after = _mtimes(out)
    assert set(after) == set(before)
    assert {d for d in after if after[d] != before.get(d)} == {lost}   # only the lost run
    assert json.loads((out / "tune" / "l2" / "search.json").read_text())["n_trials"] == 2


def _plan(sweep_dir: Path, jobs: list, statuses: list) -> None:
    from regstudy.record.run_record import write_plan

    write_plan(sweep_dir, jobs)
    for i, status in enumerate(statuses):
        if status:
            (sweep_dir / str(i)).mkdir(parents=True, exist_ok=True)
            (sweep_dir / str(i) / "metrics.json").write_text(json.dumps({"status": status}))


def test_a_final_stage_is_skipped_only_when_every_planned_run_finished(tmp_path):
    from regstudy.study.stages import _final_jobs, sweep_done

    jobs = [["experiment=x", "+arm=none", "seed=1000"], ["experiment=x", "+arm=l2", "seed=1000"]]
    expected = _final_jobs(["none", "l2"], [1000])
    _plan(tmp_path / "a", jobs, ["completed", "pruned"])
    assert sweep_done(tmp_path / "a", expected)
    _plan(tmp_path / "b", jobs, ["completed", "interrupted"])           # resumable: re-launch
    assert not sweep_done(tmp_path / "b", expected)
    _plan(tmp_path / "c", jobs, ["completed", None])                    # never started
    assert not sweep_done(tmp_path / "c", expected)
    assert not sweep_done(tmp_path / "a", _final_jobs(["none", "l2"], [1000, 1001]))  # more seeds
    assert not sweep_done(tmp_path / "missing", expected)


def test_report_gets_each_search_with_absolute_trial_paths(tmp_path):
    from regstudy.study.summary import collect_searches

    tune = tmp_path / "tune" / "l2"
    tune.mkdir(parents=True)
    (tune / "search.json").write_text(json.dumps({
        "best": {"run_dir": "1"}, "trials": [{"run_dir": "0"}, {"run_dir": str(tune / "1")}]}))
    copied = json.loads((collect_searches(tmp_path) / "l2" / "search.json").read_text())
    assert copied["best"]["run_dir"] == str((tune / "1").resolve())
    assert [t["run_dir"] for t in copied["trials"]] == \
        [str((tune / "0").resolve()), str(tune / "1")]
    assert collect_searches(tmp_path / "nothing") is None


def test_the_winner_is_confirmed_on_more_seeds_before_it_is_fixed(tmp_path):
    """Trial 1 scored best on its one seed by luck; on two more seeds trial 0 is better."""
    from regstudy.study.confirm import confirm_arm, confirm_seeds

    study, base = _study(["experiment=kung_regularization", "study.tune.confirm_top=2"])
    search = {"direction": "maximize", "best": {"number": 1, "value": 0.95, "overrides": []},
              "trials": [{"number": 0, "state": "complete", "value": 0.93,
                          "params": {"reg.l2.strength": 0.001}},
                         {"number": 1, "state": "complete", "value": 0.95,
                          "params": {"reg.l2.strength": 0.1}},
                         {"number": 2, "state": "pruned", "value": 0.5, "params": {}}]}
    true_score = {"0.001": 0.94, "0.1": 0.90}
    launched = []

    def run_sweep(overrides, sweep_dir, what):
        launched.append(overrides)
        strength = next(o.split("=")[1] for o in overrides if o.startswith("reg.l2.strength"))
        for i, seed in enumerate(confirm_seeds(study)):
            run = Path(sweep_dir) / str(i)
            run.mkdir(parents=True)
            (run / "metrics.json").write_text(json.dumps(
                {"status": "completed", "seed": seed, "best_val_acc": true_score[strength]}))
        return 0

    out = confirm_arm(study, study.arm("l2"), search, base, tmp_path, run_sweep)
    assert confirm_seeds(study) == [1, 2] and len(launched) == 2
    assert all("seed=1,2" in ov for ov in launched)
    assert out["best"]["number"] == 0 and out["best"]["overrides"] == ["reg.l2.strength=0.001"]
    assert out["best"]["value"] == pytest.approx((0.93 + 0.94 + 0.94) / 3)
    assert out["confirm"]["single_seed_best"] == 1
