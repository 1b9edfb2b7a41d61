"""Stopping a sweep or a study's stage: no process of it outlives it (SIGTERM, SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import List

import pytest

from regstudy.study.process import run_logged
from regstudy.sweep.stop import descendants, group_members

from .conftest import REPO, read_metrics

# A stage's child that leaves a grandchild behind which ignores SIGTERM (as a pool worker busy
# in a step, or an idle one that swallowed the signal, would stay).
STUBBORN = """
import signal, subprocess, sys, time
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('grandchild' + ' ready', flush=True); time.sleep(600)"])
time.sleep(600)
"""


@pytest.mark.slow
def test_a_stopped_study_stage_leaves_no_process_of_its_group(tmp_path):
    log = tmp_path / "stage.log"
    pgids: List[int] = []

    def interrupt() -> None:
        deadline = time.monotonic() + 60
        while "grandchild ready" not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        pgids.extend(os.getpgid(p) for p in descendants(os.getpid())[:1])
        os.kill(os.getpid(), signal.SIGTERM)   # as `kill <pid of regstudy study>` would

    timer = threading.Thread(target=interrupt)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_logged([sys.executable, "-c", STUBBORN], log)
    timer.join()
    assert pgids and group_members(pgids[0]) == []


def test_descendants_finds_children_and_grandchildren():
    child = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "grandchild ready"
        found = descendants(os.getpid())
        assert child.pid in found and len(found) >= 2
        assert set(descendants(child.pid)) < set(found)
    finally:
        for pid in descendants(child.pid) + [child.pid]:
            os.kill(pid, signal.SIGKILL)
        child.wait()


JOBLIB_SWEEP = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1",
                "dataset.subset=3000", "dataset.val_size=100", "dataset.test_subset=100",
                "trainer.batch_size=10", "trainer.epochs=20", "diag.enabled=false",
                "trainer.progress=lines"]


@pytest.mark.slow
@pytest.mark.parametrize("signum,whole_group", [(signal.SIGTERM, True), (signal.SIGTERM, False),
                                               (signal.SIGINT, True)])
def test_a_signalled_joblib_sweep_leaves_no_process_after_10_s(tmp_path, mnist_root, signum,
                                                               whole_group):
    """The whole group is signalled (`kill -TERM -- -PGID`, or Ctrl-C in a terminal), or only
    the sweep's own process (`kill PID`), while both workers train: each run is left
    interrupted with a checkpoint, and 10 s after the sweep's own process exits no process of
    the group is left."""
    sweep_dir = tmp_path / "sweep"
    proc = subprocess.Popen(
        [sys.executable, "-m", "regstudy.cli", "train", "-m", *JOBLIB_SWEEP,
         f"hydra.sweep.dir={sweep_dir}"], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "REGSTUDY_DATA": str(mnist_root), "HYDRA_FULL_ERROR": "0"})
    try:
        deadline = time.monotonic() + 400
        while not all((sweep_dir / j / "metrics.json").is_file() for j in "01"):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.2)
        time.sleep(1.0)
        (os.killpg if whole_group else os.kill)(proc.pid, signum)
        out = proc.communicate(timeout=120)[0]
        time.sleep(10)
        assert group_members(proc.pid) == [], out
        assert proc.returncode == 128 + signum, out
        for job in "01":
            assert read_metrics(sweep_dir / job)["status"] == "interrupted", out
            assert (sweep_dir / job / "checkpoint.pt").is_file()
        assert "Continue with: regstudy train" in out
    finally:
        for pid in group_members(proc.pid):
            os.kill(pid, signal.SIGKILL)
