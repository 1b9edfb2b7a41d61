"""One process per run directory: the lock (flock, or a lease file with a heartbeat), and two
copies of one sweep launched into the same directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from regstudy.record.lock import LEASE_FILE, LOCK_FILE, RunLock, RunLocked

from .conftest import REPO, read_metrics

HOLD = """
import sys, time
from regstudy.record.lock import RunLock
lock = RunLock(sys.argv[1], sys.argv[2]).__enter__()
print("held", flush=True)
time.sleep(600)
"""


def _holder(run_dir: Path, mechanism: str) -> subprocess.Popen:
    """Another process that takes the lock and keeps it until killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir), mechanism],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("mechanism", ["flock", "lease"])
def test_a_locked_run_names_its_holder_and_frees_when_it_dies(tmp_path, mechanism):
    run_dir = tmp_path / "run"
    proc = _holder(run_dir, mechanism)
    try:
        with pytest.raises(RunLocked, match=f"being trained by PID {proc.pid} on "):
            RunLock(run_dir, mechanism).acquire()
    finally:
        proc.kill()
        proc.wait()
    if mechanism == "lease":   # a killed holder cannot remove its lease: it goes stale
        os.utime(run_dir / LEASE_FILE, (time.time() - 120, time.time() - 120))
    with RunLock(run_dir, mechanism) as lock:
        assert lock.used == mechanism
        info = json.loads((run_dir / (LOCK_FILE if mechanism == "flock" else LEASE_FILE))
                          .read_text())
        assert info["pid"] == os.getpid() and info["mechanism"] == mechanism


def test_lease_is_renewed_while_held_and_removed_on_release(tmp_path):
    lock = RunLock(tmp_path, "lease", heartbeat_s=0.05, lease_s=0.3)
    with lock:
        first = json.loads((tmp_path / LEASE_FILE).read_text())["renewed"]
        time.sleep(0.5)   # longer than lease_s: only the heartbeat keeps it fresh
        assert json.loads((tmp_path / LEASE_FILE).read_text())["renewed"] > first
        with pytest.raises(RunLocked):
            RunLock(tmp_path, "lease", lease_s=0.3).acquire()
    assert not (tmp_path / LEASE_FILE).exists()


def test_auto_uses_flock_where_the_filesystem_has_it(tmp_path):
    with RunLock(tmp_path) as lock:
        assert lock.used == "flock"
        with pytest.raises(RunLocked):
            RunLock(tmp_path).acquire()   # a second open file description in this process
    with RunLock(tmp_path):
        pass


SWEEP = ["reg=none,l2", "seed=0", "dataset.subset=1000", "dataset.val_size=100",
         "dataset.test_subset=100", "trainer.batch_size=20", "trainer.epochs=2",
         "diag.enabled=false", "trainer.progress=lines"]


def _sweep(sweep_dir: Path, data_root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "regstudy.cli", "train", "-m", *SWEEP,
         f"hydra.sweep.dir={sweep_dir}"], cwd=REPO, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, "REGSTUDY_DATA": str(data_root), "HYDRA_FULL_ERROR": "0"})


@pytest.mark.slow
def test_two_copies_of_a_sweep_train_each_job_exactly_once(tmp_path, mnist_root):
    """Both copies start together: one trains job 0 while the other skips it and trains job 1,
    which the first then skips (or finds finished); both exit 0, and no job has two event
    files, a resume, or a second training."""
    sweep_dir = tmp_path / "sweep"
    first, second = _sweep(sweep_dir, mnist_root), _sweep(sweep_dir, mnist_root)
    outs = [p.communicate(timeout=600)[0] for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    for job in ("0", "1"):
        m = read_metrics(sweep_dir / job)
        assert m["status"] == "completed" and "resumed_at_epoch" not in m
        assert len(m["history"]) == 2
        events = list((sweep_dir / job / "tb").rglob("events.out.tfevents.*"))
        assert len(events) == 1, events
    trained = sum(out.count("on mnist (") for out in outs)   # one start line per training
    assert trained == 2, outs
    assert "being trained by PID" in outs[0] + outs[1]
