"""Sweeps through each launcher, the table written at the end, and every experiment preset.

A 2x2 sweep (reg=none,l2 x seed=0,1) of LeNet5 on a few hundred real MNIST images runs
through Hydra's basic launcher (jobs in the launching process), joblib and submitit_local;
its table is checked against numbers computed here from the runs' metrics.json files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps

from regstudy.paths import config_dir
from regstudy.record.run_record import PLAN_FILE
from regstudy.threads import available_cpus

from .conftest import cli_in_process, read_metrics, run_cli

TINY = ["dataset.subset=200", "dataset.test_subset=200", "dataset.val_size=100",
        "trainer.batch_size=50", "trainer.max_steps=4", "trainer.progress=lines"]
# Diagnostics off where they are not what a test checks: they cost a figure per run.
NO_DIAG = ["diag.enabled=false"]
SWEEP_2X2 = ["reg=none,l2", "seed=0,1"]
PRESETS = sorted(p.stem for p in (Path(config_dir()) / "experiment").glob("*.yaml"))


def sweep(sweep_dir: Path, data_root: Path, *args: str, diagnostics: bool = False):
    return run_cli(["train", "-m", *args, *TINY, *([] if diagnostics else NO_DIAG),
                    f"hydra.sweep.dir={sweep_dir}"], env={"REGSTUDY_DATA": str(data_root)})


def hand_table(sweep_dir: Path) -> Dict[str, List[float]]:
    """reg -> test errors of its completed runs, read straight from the metrics files."""
    out: Dict[str, List[float]] = {}
    for path in sorted(sweep_dir.glob("*/metrics.json")):
        m = json.loads(path.read_text())
        reg = next(o.split("=", 1)[1] for o in m["overrides"] if o.startswith("reg="))
        if m["status"] == "completed":
            out.setdefault(reg, []).append(m["test_error"])
    return out


def table_csv(*args: str, key: str = "reg") -> pd.DataFrame:
    """`regstudy table --csv`, indexed by the group key (read as text: '1e6' stays '1e6')."""
    out = cli_in_process(["table", *args, "--csv"])
    assert out.returncode == 0, out.stderr
    return pd.read_csv(pd.io.common.StringIO(out.stdout), dtype={key: str}).set_index(key)


def check_2x2(sweep_dir: Path) -> None:
    """Four completed runs, one per job dir; table.md/.csv written; numbers as computed here."""
    assert sorted(p.name for p in sweep_dir.iterdir() if p.name.isdigit()) == ["0", "1", "2", "3"]
    assert all(read_metrics(sweep_dir / j)["status"] == "completed" for j in "0123")
    by_reg = hand_table(sweep_dir)
    assert {k: len(v) for k, v in by_reg.items()} == {"none": 2, "l2": 2}
    frame = pd.read_csv(sweep_dir / "table.csv").set_index("reg")
    for reg, errors in by_reg.items():
        assert frame.loc[reg, "n"] == 2
        assert frame.loc[reg, "mean"] == pytest.approx(np.mean(errors))
        assert frame.loc[reg, "std"] == pytest.approx(np.std(errors, ddof=1))
    assert frame.loc["l2", "diff"] == pytest.approx(np.mean(by_reg["l2"]) - np.mean(by_reg["none"]))
    printed = cli_in_process(["table", str(sweep_dir), "--baseline", "reg=none"])
    assert printed.stdout == (sweep_dir / "table.md").read_text()


@pytest.fixture(scope="module")
def basic_sweep(tmp_path_factory) -> Path:
    from .conftest import real_data_root

    root = real_data_root("MNIST")
    if root is None:
        pytest.skip("real MNIST not found: set REGSTUDY_DATA to a folder with MNIST/raw/*-ubyte")
    sweep_dir = tmp_path_factory.mktemp("basic") / "sweep"
    out = sweep(sweep_dir, root, *SWEEP_2X2)
    assert out.returncode == 0, out.stderr[-3000:]
    return sweep_dir


@pytest.mark.slow
def test_basic_launcher_sweep_and_its_table(basic_sweep):
    check_2x2(basic_sweep)
    plan = json.loads((basic_sweep / PLAN_FILE).read_text())["jobs"]
    assert [j["overrides"][:2] for j in plan] == [
        ["reg=none", "seed=0"], ["reg=none", "seed=1"], ["reg=l2", "seed=0"], ["reg=l2", "seed=1"]]
    for job in plan:  # the plan names the same overrides the jobs recorded
        assert read_metrics(basic_sweep / job["subdir"])["overrides"] == job["overrides"]
    shared = set.intersection(*(set(j["overrides"]) for j in plan))
    for job in plan:  # TensorBoard names each run by what varies, not `<num>/tb`
        tb_runs = [p.name for p in (basic_sweep / job["subdir"] / "tb").iterdir()]
        named = sorted(o for o in job["overrides"] if o not in shared)
        assert tb_runs == [",".join(named)] and tb_runs[0].startswith("reg=")


@pytest.mark.slow
def test_welch_p_of_the_sweep_equals_scipy(basic_sweep):
    by_reg = hand_table(basic_sweep)
    frame = table_csv(str(basic_sweep), "--baseline", "reg=none")
    expected = sps.ttest_ind(by_reg["l2"], by_reg["none"], equal_var=False).pvalue
    if np.isnan(expected):  # both groups without spread: the test is undefined, and says so
        assert np.isnan(frame.loc["l2", "p_value"])
    else:
        assert frame.loc["l2", "p_value"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.slow
def test_joblib_sweep_limits_threads_per_job(tmp_path, mnist_root):
    out = sweep(tmp_path, mnist_root, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                *SWEEP_2X2)
    assert out.returncode == 0, out.stderr[-3000:]
    check_2x2(tmp_path)
    expected = max(1, available_cpus() // 2)
    for job in "0123":
        log = (tmp_path / job / "train.log").read_text()
        assert f"torch threads for this job: {expected} " in log
        # the resolved number is the run's config: re-running the job alone reproduces it
        assert read_metrics(tmp_path / job)["config"]["trainer"]["threads"] == expected


@pytest.mark.slow
def test_submitit_local_sweep(tmp_path, mnist_root):
    out = sweep(tmp_path, mnist_root, "hydra/launcher=submitit_local", *SWEEP_2X2)
    assert out.returncode == 0, out.stderr[-3000:]
    check_2x2(tmp_path)
    assert (tmp_path / ".submitit").is_dir()   # the jobs really went through submitit


@pytest.mark.slow
def test_diverged_and_aborted_jobs_are_in_the_table(tmp_path, mnist_root):
    """lr=1e6 diverges; the unreadable data root aborts job 4, which stops the sweep: Hydra
    skips the end-of-sweep table, and `regstudy table` still accounts for all 8 jobs.
    lr is written 1000000.0 because the job records a swept float as Hydra prints it.
    Default settings (diagnostics on): a diverging run must end `diverged` with them too."""
    out = sweep(tmp_path, mnist_root, f"dataset.root={mnist_root},{tmp_path / 'no-data'}",
                "optim.lr=0.05,1000000.0", "seed=0,1", "dataset.download=false",
                diagnostics=True)
    assert out.returncode != 0 and not (tmp_path / "table.md").exists()
    records = {j: read_metrics(tmp_path / j) for j in "0123"}
    assert {j: m["status"] for j, m in records.items()} == {
        "0": "completed", "1": "completed", "2": "diverged", "3": "diverged"}, \
        {j: m.get("error") for j, m in records.items()}
    frame = table_csv(str(tmp_path), key="optim.lr")
    assert frame.loc["0.05", ["n", "completed", "missing"]].tolist() == [2, 2, 2]
    assert frame.loc["1000000.0", ["n", "diverged", "missing"]].tolist() == [0, 2, 2]
    errors = [read_metrics(tmp_path / j)["test_error"] for j in "01"]
    assert frame.loc["0.05", "mean"] == pytest.approx(np.mean(errors))
    text = cli_in_process(["table", str(tmp_path)]).stdout
    assert "8 runs (2 completed, 2 diverged, 4 missing)" in text
    assert text.count("- diverged: ") == 2 and text.count("- missing: ") == 4


def test_every_preset_composes():
    assert {"vgg_cifar100", "kung_regularization"} <= set(PRESETS)
    for name in PRESETS:
        out = cli_in_process(["train", f"experiment={name}", "--cfg", "job"])
        assert out.returncode == 0, f"{name}: {out.stderr[-2000:]}"


def composed(*overrides: str) -> dict:
    out = cli_in_process(["train", *overrides, "--cfg", "job"])
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_vgg_cifar100_settings():
    cfg = composed("experiment=vgg_cifar100")
    assert (cfg["model"]["name"], cfg["dataset"]["name"]) == ("vgg08", "cifar100")
    assert cfg["optim"]["name"] == "adam" and cfg["optim"]["lr"] == pytest.approx(1e-3)
    sched = cfg["sched"]
    assert (sched["name"], sched["eta_min"], sched["t_max"]) == ("cosine", 2e-5, 100)
    assert (cfg["trainer"]["epochs"], cfg["trainer"]["batch_size"]) == (100, 100)
    assert (cfg["dataset"]["val_size"], cfg["dataset"]["augment"]) == (2500, True)
    assert composed("experiment=vgg_cifar100", "model=vgg38")["model"]["blocks_per_stage"] == 5


def test_kung_regularization_settings():
    cfg = composed("experiment=kung_regularization", "dataset=fashion_mnist")
    assert (cfg["model"]["name"], cfg["dataset"]["name"]) == ("smallcnn", "fashion_mnist")
    t = cfg["trainer"]
    assert (t["batch_size"], t["epochs"], t["early_stop_patience"]) == (64, 50, 5)


@pytest.fixture(scope="module")
def tiny_data_root(tmp_path_factory) -> Path:
    """Tiny CIFAR-10/100 files in the real format, beside the real MNIST/Fashion-MNIST."""
    from .cifar_files import write_cifar10, write_cifar100
    from .conftest import real_data_root

    mnist, fmnist = real_data_root("MNIST"), real_data_root("FashionMNIST")
    if mnist is None or fmnist is None:
        pytest.skip("real MNIST and Fashion-MNIST not found under REGSTUDY_DATA")
    root = tmp_path_factory.mktemp("data")
    write_cifar10(root, n_train=60, n_test=20)
    write_cifar100(root, n_train=60, n_test=20)
    os.symlink(mnist / "MNIST", root / "MNIST")
    os.symlink(fmnist / "FashionMNIST", root / "FashionMNIST")
    return root


@pytest.mark.slow
def test_every_preset_trains_one_step(tmp_path, tiny_data_root):
    """One multirun over all presets: one optimizer step each, on tiny data of its dataset."""
    out = cli_in_process(["train", "-m", f"experiment={','.join(PRESETS)}", "dataset.val_size=20",
                   "dataset.subset=40", "dataset.test_subset=20", "dataset.verify_checksums=false",
                   "dataset.download=false", "trainer.batch_size=20", "trainer.max_steps=1",
                   *NO_DIAG,
                   "trainer.progress=lines", f"hydra.sweep.dir={tmp_path}"],
                  env={"REGSTUDY_DATA": str(tiny_data_root)})
    assert out.returncode == 0, out.stderr[-3000:]
    for job, name in enumerate(PRESETS):
        m = read_metrics(tmp_path / str(job))
        assert m["status"] == "completed" and m["steps"] == 1, name
        assert f"experiment={name}" in m["overrides"]


def _resume_available() -> bool:
    """Checkpoint/resume and fault injection are in (trainer.resume, regstudy.training.faults)."""
    import importlib.util

    from regstudy.config.schema import TrainerConfig

    return ("resume" in TrainerConfig.__dataclass_fields__
            and importlib.util.find_spec("regstudy.training.faults") is not None)


@pytest.mark.skipif(not _resume_available(),
                    reason="needs checkpoint/resume (trainer.resume) and REGSTUDY_FAULT injection")
@pytest.mark.slow
def test_preempted_submitit_job_is_requeued_into_its_directory_and_resumes(tmp_path, mnist_root):
    """The job sends itself SIGUSR2 (a scheduler's preemption notice) at step 5 of 8: it
    checkpoints, submitit requeues it, and the new process continues in the same directory
    from step 5 (its own step counter restarts, so the fault cannot fire again in 3 steps)."""
    out = run_cli(["train", "-m", "hydra/launcher=submitit_local", "seed=0", *TINY, *NO_DIAG,
                   "trainer.max_steps=0", "trainer.epochs=2", f"hydra.sweep.dir={tmp_path}"],
                  env={"REGSTUDY_DATA": str(mnist_root), "REGSTUDY_FAULT": "step:5:USR2"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == ["0"]
    m = read_metrics(tmp_path / "0")
    assert m["status"] == "completed" and (m["epochs_run"], m["steps"]) == (2, 8)
    assert m["resumed_at_epoch"] == 1          # resumed inside epoch 2, not restarted
    logs = "".join(p.read_text() for p in (tmp_path / ".submitit").rglob("*_log.*"))
    assert "Requeued job" in logs
    assert (tmp_path / "table.md").is_file()


def test_thread_budget_resolves_only_automatic_threads(tmp_path, monkeypatch):
    """trainer.threads=0 under joblib: the callback sets the budget CPUs / jobs at once, which
    train_run applies and records; an explicit number is left to train_run alone."""
    from omegaconf import OmegaConf

    from regstudy.sweep.callbacks import ThreadBudget
    from regstudy.threads import JOB_THREADS_ENV, auto_threads

    monkeypatch.setenv(JOB_THREADS_ENV, "7")                 # left over from an earlier job
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cfg = OmegaConf.create({"trainer": {"threads": 1}, "hydra": {
        "sweep": {"dir": str(tmp_path)},
        "launcher": {"_target_": "hydra_plugins.hydra_joblib_launcher.JoblibLauncher",
                     "n_jobs": 1}}})
    ThreadBudget().on_job_start(cfg)
    assert JOB_THREADS_ENV not in os.environ and auto_threads() == available_cpus()
    cfg.trainer.threads = 0
    ThreadBudget().on_job_start(cfg)
    assert os.environ[JOB_THREADS_ENV] == str(available_cpus())   # one job at a time: every CPU
