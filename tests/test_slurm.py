"""regstudy on a real SLURM cluster: sweeps, searches and a study through `submitit_slurm`,
and jobs requeued (`scontrol requeue`, partition preemption, SIGTERM then USR2) that resume
from their mid-epoch checkpoint and end bit-identical to a direct run.

The cluster is one node on localhost (scripts/slurm_cluster.sh: slurmctld, slurmd, slurmdbd
with MariaDB, munge), started here when the packages are installed and this is root; the
tests are skipped otherwise. The sweep (about 35 s with the cluster's start and stop) runs by
default; the others take minutes each and run only when asked: `REGSTUDY_SLURM_TESTS=1 pytest
-m slurm`. `REGSTUDY_SLURM_TESTS=0` skips the sweep too (no cluster is started)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from . import slurm_helpers as sh
from .conftest import REPO, read_metrics, run_cli
from .search_helpers import load_study, records, search_args

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TINY = ["dataset.subset=300", "dataset.val_size=100", "dataset.test_subset=300",
        "trainer.batch_size=50", "trainer.epochs=1", "diag.enabled=false"]
# Long enough to be stopped inside an epoch: 2 epochs of 2000 steps (about 10 s each on an
# idle core, several times that on a busy one), so that the job still trains when a preemption
# arrives (the high-partition job must first be scheduled; 400 steps, 2 s an epoch, ended
# first); dropout so the torch RNG state matters too; a small validation set, so nearly all
# the time is spent inside epochs.
LONG = ["dataset.subset=40000", "dataset.val_size=100", "dataset.test_subset=300",
        "trainer.batch_size=20", "trainer.epochs=2", "reg=dropout", "seed=3",
        "diag.enabled=false", "trainer.progress=bar"]   # the bar says when an epoch starts


# The tests that take minutes each (requeues wait for SLURM, the study runs four stages).
opt_in = pytest.mark.skipif(os.environ.get("REGSTUDY_SLURM_TESTS") != "1",
                            reason="runs only with REGSTUDY_SLURM_TESTS=1 (minutes each)")


@pytest.fixture(scope="module")
def cluster(data_root):
    """The cluster's client environment (SLURM_CONF) and the data root, for run_cli."""
    if os.environ.get("REGSTUDY_SLURM_TESTS") == "0":
        pytest.skip("REGSTUDY_SLURM_TESTS=0: no SLURM tests")
    reason = None if sh.answers() else sh.why_unavailable()
    if reason:
        pytest.skip(reason)
    started = sh.start()
    yield {**sh.slurm_env(), "REGSTUDY_DATA": str(data_root), "REGSTUDY_FAULT": ""}
    if started:
        sh.stop()


def sweep(env, sweep_dir: Path, *overrides: str, timeout: float = 600):
    return run_cli(["train", "-m", *sh.LAUNCHER, *overrides, f"hydra.sweep.dir={sweep_dir}"],
                   env=env, timeout=timeout)


def popen_sweep(env, sweep_dir: Path, *overrides: str) -> subprocess.Popen:
    log = open(sweep_dir.with_suffix(".log"), "w")
    return subprocess.Popen(
        [sys.executable, "-m", "regstudy.cli", "train", "-m", *sh.LAUNCHER, *overrides,
         f"hydra.sweep.dir={sweep_dir}"], cwd=REPO, env={**os.environ, "HYDRA_FULL_ERROR": "0", **env},
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def test_sweep_through_submitit_slurm(cluster, tmp_path):
    out = sweep(cluster, tmp_path, "reg=none,l2", "seed=0,1", *TINY, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    runs = {j: read_metrics(tmp_path / j) for j in "0123"}
    assert all(m["status"] == "completed" for m in runs.values())
    assert all(m["config"]["trainer"]["threads"] == 1 for m in runs.values())  # cpus_per_task
    assert (tmp_path / "table.md").is_file() and (tmp_path / "report.html").is_file()
    ids = sh.job_ids(tmp_path)
    assert ids and set(sh.final_states(ids)) == {"COMPLETED"}
    assert "max_num_timeout=0" in out.stdout + out.stderr   # the plugin's default, flagged


@opt_in
def test_search_as_slurm_jobs_and_two_searches_sharing_a_study(cluster, tmp_path):
    from optuna.trial import TrialState

    storage = f"journal://{tmp_path / 'study.log'}"   # a journal file on the shared filesystem
    dirs = [tmp_path / "w0", tmp_path / "w1"]
    procs = []
    for d, seed in zip(dirs, "01"):
        args = search_args(d, *sh.LAUNCHER, f"hydra.sweeper.storage={storage}",
                           f"hydra.sweeper.seed={seed}", "hydra.sweeper.n_jobs=1", n_trials=3)
        log = open(tmp_path / f"w{seed}.log", "w")
        procs.append(subprocess.Popen([sys.executable, "-m", "regstudy.cli", *args], cwd=REPO,
                                      env={**os.environ, "HYDRA_FULL_ERROR": "0", **cluster},
                                      stdout=log, stderr=subprocess.STDOUT))
    codes = [p.wait(timeout=900) for p in procs]
    assert codes == [0, 0], [(tmp_path / f"w{s}.log").read_text()[-2000:] for s in "01"]
    trials = load_study(storage).get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) >= 3
    assert all(t.state == TrialState.COMPLETE for t in trials)
    recs = {**records(dirs[0]), **records(dirs[1])}
    assert sorted(recs) == sorted(numbers) and all(records(d) for d in dirs)
    assert all(recs[t.number]["best_val_acc"] == t.value for t in trials)
    assert all(sh.job_ids(d) for d in dirs)          # the trials ran as SLURM jobs


def running_job(sweep_dir: Path, proc: subprocess.Popen) -> str:
    """Wait until the sweep's one job is training (its progress bar for epoch 1 appeared: the
    signal handlers are installed), a second longer, and return its SLURM job id."""
    def training() -> bool:
        assert proc.poll() is None, sweep_dir.with_suffix(".log").read_text()[-3000:]
        return "epoch 1/2:" in sh.job_logs(sweep_dir) if sh.job_ids(sweep_dir) else False

    sh.wait_for(training, 300, "the job to start training")
    time.sleep(1.5)
    (job,) = sh.job_ids(sweep_dir)
    return job


def finish_and_compare(env, sweep_dir: Path, proc: subprocess.Popen, tmp_path: Path) -> dict:
    """The requeued job's sweep ends; its run resumed from a mid-epoch checkpoint, completed, and
    equals a direct run of the same overrides with the thread count the job recorded."""
    assert proc.wait(timeout=600) == 0, sweep_dir.with_suffix(".log").read_text()[-3000:]
    m = read_metrics(sweep_dir / "0")
    logs = sh.job_logs(sweep_dir)
    assert m["status"] == "completed" and "resumed_at_epoch" in m, logs[-3000:]
    assert "SIGTERM: checkpoint written inside epoch" in logs
    assert "from its checkpoint inside epoch" in logs
    assert m["wall_time_s"] >= m["train_seconds"]
    direct = tmp_path / "direct"
    res = run_cli(["train", *LONG, f"trainer.threads={m['config']['trainer']['threads']}",
                   f"hydra.run.dir={direct}"], env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    same_run(direct, sweep_dir / "0")
    return m


def same_run(a: Path, b: Path) -> None:
    ma, mb = read_metrics(a), read_metrics(b)
    def strip(rows):
        return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in rows]
    assert strip(ma["history"]) == strip(mb["history"])
    for key in ("test_acc", "test_loss", "last_test_acc", "best_epoch", "steps"):
        assert ma[key] == mb[key], key
    wa = torch.load(a / "best_model.pt", weights_only=True)
    wb = torch.load(b / "best_model.pt", weights_only=True)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@opt_in
def test_scontrol_requeue_resumes_bit_identical(cluster, tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = popen_sweep(cluster, sweep_dir, *LONG)
    job = running_job(sweep_dir, proc)
    sh.slurm("scontrol", "requeue", job)
    finish_and_compare(cluster, sweep_dir, proc, tmp_path)
    assert "DUE TO JOB REQUEUE" in sh.job_logs(sweep_dir)


@opt_in
def test_preemption_by_a_higher_priority_partition_resumes_bit_identical(cluster, tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = popen_sweep(cluster, sweep_dir, *LONG)
    running_job(sweep_dir, proc)
    cpus = sh.slurm("sinfo", "-h", "-p", "high", "-o", "%c").split()[0]   # the whole node
    sh.slurm("sbatch", "-p", "high", "-c", cpus, "-o", "/dev/null", "--wrap", "sleep 1")
    finish_and_compare(cluster, sweep_dir, proc, tmp_path)
    assert "DUE TO PREEMPTION" in sh.job_logs(sweep_dir)


@opt_in
def test_sigterm_then_usr2_requeues_with_hydras_default_timeout(cluster, tmp_path):
    """SLURM's notice with a grace period: SIGTERM, then USR2 (sbatch --signal) seconds later.
    The job checkpoints on SIGTERM, waits, and submitit requeues it on USR2."""
    sweep_dir = tmp_path / "sweep"
    proc = popen_sweep(cluster, sweep_dir, *LONG)       # hydra.launcher.timeout_min: 60
    job = running_job(sweep_dir, proc)
    sh.slurm("scancel", "--signal=TERM", job)
    time.sleep(5)                                       # the grace period
    sh.slurm("scancel", "--signal=USR2", job)
    finish_and_compare(cluster, sweep_dir, proc, tmp_path)
    logs = sh.job_logs(sweep_dir)
    assert "this job is preempted" in logs and f"Requeued job {job}" in logs


@opt_in
def test_study_end_to_end_on_slurm(cluster, tmp_path):
    root = tmp_path / "study"
    res = run_cli(["study", "experiment=kung_regularization", "study.only=[l2]",
                   "study.tune.trials=2", "study.tune.epochs=1", "study.final.seeds=2",
                   "study.final.epochs=1", "study.ablation=", "dataset.subset=300", "dataset.val_size=100",
                   "dataset.test_subset=300", *sh.LAUNCHER, "--dir", str(root)],
                  env=cluster, timeout=1200)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    for name in ("study.md", "study.json", "table.md", "report.html"):
        assert (root / name).is_file(), name
    final = [read_metrics(p.parent) for p in (root / "final").glob("*/metrics.json")]
    assert len(final) == 4 and all(m["status"] == "completed" for m in final)
    assert sh.job_ids(root / "final") and sh.job_ids(root / "tune" / "l2")
