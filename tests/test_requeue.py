"""What a job does when a scheduler stops it: the signal hand-over to submitit's requeue, time
limits, and how many threads a SLURM allocation gives. The same paths against a real SLURM
cluster are in tests/test_slurm.py."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from regstudy.config.compose import compose

from .conftest import REPO, read_metrics, run_cli

# A stand-in for a submitit job on SLURM: submitit installs a SIGTERM handler that only logs and
# a USR2 handler that requeues the job and exits; SLURM sends SIGTERM, then USR2 a while later.
HAND_OVER = textwrap.dedent("""
    import os, signal, sys, threading
    from regstudy.training.signals import StopRequest

    def requeue(signum, frame):
        print("requeued", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGUSR2, requeue)
    signal.signal(signal.SIGTERM, lambda signum, frame: print("bypassed", flush=True))
    stop = StopRequest().install()
    os.kill(os.getpid(), signal.SIGTERM)
    assert stop, "the SIGTERM was not seen"
    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGUSR2)).start()
    stop.hand_over()
""")


def _hand_over(env: dict) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            **env}
    return subprocess.run([sys.executable, "-c", HAND_OVER], env=full, capture_output=True,
                          text=True, timeout=60)


def test_sigterm_then_usr2_reaches_submitits_requeue_on_slurm():
    res = _hand_over({"SUBMITIT_EXECUTOR": "slurm", "SLURM_JOB_ID": "1",
                      "SLURM_CONF": "/nonexistent/slurm.conf"})   # squeue cannot say: wait
    assert res.stdout.split() == ["bypassed", "requeued"], res.stderr[-2000:]
    assert res.returncode == 0


def test_sigterm_outside_slurm_exits_at_once():
    """Without SLURM nothing sends a USR2 after SIGTERM: no waiting, exit status 128+15."""
    started = time.monotonic()
    res = _hand_over({"SUBMITIT_EXECUTOR": "local", "SLURM_JOB_ID": ""})
    assert res.returncode == 143 and res.stdout.split()[0] == "bypassed"
    assert time.monotonic() - started < 30   # not the 300 s wait


def test_sigterm_while_slurm_ends_the_job_exits_at_once():
    """Preemption, `scontrol requeue`, a time limit: SLURM shows the job COMPLETING and sends no
    USR2, so the hand-over exits at once instead of holding the allocation until SIGKILL."""
    import signal

    from regstudy.training.signals import StopRequest

    seen = []
    saved = signal.signal(signal.SIGUSR2, lambda signum, frame: seen.append(signum))
    try:
        stop = StopRequest(wait_s=300, job_ending=lambda: True).install()
        stop._handle(signal.SIGTERM, None)               # what the SIGTERM handler records
        started = time.monotonic()
        with pytest.raises(SystemExit) as ended:
            stop.hand_over()
        assert ended.value.code == 143 and time.monotonic() - started < 10 and not seen
    finally:
        signal.signal(signal.SIGUSR2, saved)


# submitit's USR2 handler when it will not requeue (a time-out with max_num_timeout spent): it
# raises inside the job, in the middle of regstudy's hand-over.
DECLINE = textwrap.dedent("""
    import signal, sys
    from submitit.core.utils import UncompletedJobError
    from regstudy.cli import main

    def decline(signum, frame):
        raise UncompletedJobError("Job not requeued because: timed-out too many times.")

    signal.signal(signal.SIGUSR2, decline)
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.slow
def test_time_out_that_submitit_does_not_requeue_is_recorded_interrupted(tmp_path, mnist_root):
    """The run stopped at a checkpoint and resumes from it: `interrupted`, never `failed`."""
    run_dir = tmp_path / "run"
    args = ["train", "seed=0", "dataset.subset=200", "dataset.val_size=100",
            "dataset.test_subset=200", "trainer.batch_size=50", "trainer.epochs=2",
            "diag.enabled=false", f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "REGSTUDY_DATA": str(mnist_root), "REGSTUDY_FAULT": "step:6:USR2",
           "HYDRA_FULL_ERROR": "0"}
    res = subprocess.run([sys.executable, "-c", DECLINE, *args], env=env, capture_output=True,
                         text=True, timeout=300, cwd=REPO)
    assert res.returncode != 0 and "UncompletedJobError" in res.stderr
    m = read_metrics(run_dir)
    assert m["status"] == "interrupted", m.get("error")
    assert "timed-out too many times" in m["error"]
    assert (run_dir / "checkpoint.pt").is_file()
    res = run_cli(args, env={"REGSTUDY_DATA": str(mnist_root), "REGSTUDY_FAULT": ""})
    assert res.returncode == 0, res.stderr[-2000:]
    assert read_metrics(run_dir)["status"] == "completed"


def _launcher(name: str):
    cfg = compose([f"hydra/launcher={name}"], return_hydra_config=True)
    return cfg.hydra.launcher


def test_slurm_preset_requeues_time_limits_and_the_plugin_default_is_flagged():
    from regstudy.sweep.callbacks import timeout_requeue_problem

    preset = _launcher("slurm")
    assert preset.max_num_timeout > 0 and preset.additional_parameters.requeue is True
    assert 0 < preset.signal_delay_s < preset.timeout_min * 60
    assert timeout_requeue_problem(preset) is None
    problem = timeout_requeue_problem(_launcher("submitit_slurm"))
    assert problem and problem.startswith("hydra.launcher.max_num_timeout=0")
    assert timeout_requeue_problem(_launcher("submitit_local")) is None


@pytest.fixture
def slurm_env(monkeypatch):
    """A SLURM job's environment without a thread budget or OMP_NUM_THREADS of its own."""
    from regstudy.threads import JOB_THREADS_ENV

    for var in (JOB_THREADS_ENV, "OMP_NUM_THREADS", "SLURM_CPUS_PER_TASK", "SLURM_CPUS_ON_NODE",
                "SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    return monkeypatch


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs a process allowed 2+ CPUs")
def test_auto_threads_follow_the_slurm_allocation_where_cpus_are_not_bound(slurm_env):
    """TaskPlugin=task/none leaves every CPU in the affinity mask of a 1-CPU job."""
    from regstudy.threads import auto_threads

    slurm_env.setenv("SLURM_CPUS_ON_NODE", "1")
    assert auto_threads() == 1
    slurm_env.setenv("SLURM_CPUS_ON_NODE", "4")
    slurm_env.setenv("SLURM_TASKS_PER_NODE", "2(x3)")
    assert auto_threads() == min(2, len(os.sched_getaffinity(0)))
    slurm_env.setenv("SLURM_CPUS_PER_TASK", "1")
    assert auto_threads() == 1
    slurm_env.delenv("SLURM_JOB_ID")                 # not in a job: the variables mean nothing
    assert auto_threads() == len(os.sched_getaffinity(0))
