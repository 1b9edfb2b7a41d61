"""Runs that survive: kills, signals, bad checkpoints, re-launched sweeps."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from regstudy.training.checkpoint import CHECKPOINT_FILE

from .conftest import cli_in_process, read_metrics, run_cli

pytestmark = pytest.mark.usefixtures("mnist_root")

# 3 epochs of 12 steps, with dropout so the torch RNG state matters too.
RUN = ["dataset.subset=600", "dataset.val_size=200", "dataset.test_subset=200",
       "trainer.epochs=3", "trainer.batch_size=50", "reg=dropout", "seed=5"]


def _train(run_dir: Path, *extra: str, fault: str | None = None):
    """A run that dies of an injected fault is a process of its own; the others run in process."""
    args = ["train", *RUN, *extra, f"hydra.run.dir={run_dir}"]
    if fault:
        return run_cli(args, env={"REGSTUDY_FAULT": fault})
    return cli_in_process(args, env={"REGSTUDY_FAULT": ""})


def _same_run(a: Path, b: Path) -> None:
    ma, mb = read_metrics(a), read_metrics(b)
    drop = {"epoch_seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in ma["history"]] == \
           [{k: v for k, v in r.items() if k not in drop} for r in mb["history"]]
    for key in ("test_acc", "test_loss", "last_test_acc", "last_test_loss", "best_epoch", "steps"):
        assert ma[key] == mb[key], key
    wa = torch.load(a / "best_model.pt", weights_only=True)
    wb = torch.load(b / "best_model.pt", weights_only=True)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    from .conftest import real_data_root

    if real_data_root("MNIST") is None:
        pytest.skip("real MNIST not found")
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    res = _train(run_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    assert read_metrics(run_dir)["status"] == "completed"
    assert not (run_dir / CHECKPOINT_FILE).exists()   # a finished run keeps no checkpoint
    return run_dir


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bit_identical(reference, tmp_path):
    run_dir = tmp_path / "run"
    res = _train(run_dir, fault="step:18")            # epoch 2, batch 6 of 12
    assert res.returncode != 0
    m = read_metrics(run_dir)
    assert m["status"] == "running" and len(m["history"]) == 1   # killed: not completed
    assert (run_dir / CHECKPOINT_FILE).is_file()
    res = _train(run_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "resuming" in res.stdout
    assert read_metrics(run_dir)["resumed_at_epoch"] == 1
    _same_run(reference, run_dir)


@pytest.mark.slow
def test_sigterm_checkpoints_mid_epoch_and_resume_is_bit_identical(reference, tmp_path):
    run_dir = tmp_path / "run"
    res = _train(run_dir, fault="step:17:TERM")
    assert res.returncode != 0
    m = read_metrics(run_dir)
    assert m["status"] == "interrupted"
    state = torch.load(run_dir / CHECKPOINT_FILE, weights_only=True)["state"]
    assert state["step"] == 17 and state["partial"]["batches_done"] == 5
    res = _train(run_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    _same_run(reference, run_dir)


@pytest.mark.slow
def test_resume_says_where_it_was_stopped_and_keeps_counting_wall_time(reference, tmp_path):
    """Stopped at step 35 of 36 (epoch 3, batch 11): the stop is logged, the resume names the
    epoch the checkpoint is inside, and wall_time_s covers both processes."""
    run_dir = tmp_path / "run"
    res = _train(run_dir, fault="step:35:TERM")
    assert res.returncode != 0
    assert "SIGTERM: checkpoint written inside epoch 3 after step 35 (batch 11 of 12)" in \
        res.stdout + res.stderr
    first = read_metrics(run_dir)
    assert first["status"] == "interrupted" and first["wall_time_s"] > 0
    res = _train(run_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "from its checkpoint inside epoch 3 (step 35, batch 11)" in res.stdout
    final = read_metrics(run_dir)
    assert final["wall_time_s"] >= final["train_seconds"]
    assert final["wall_time_s"] > first["wall_time_s"]
    _same_run(reference, run_dir)


@pytest.mark.slow
def test_kill_while_writing_checkpoint_keeps_previous_one(reference, tmp_path):
    run_dir = tmp_path / "run"
    res = _train(run_dir, fault="checkpoint_write:2")   # dies writing epoch 2's checkpoint
    assert res.returncode != 0
    payload = torch.load(run_dir / CHECKPOINT_FILE, weights_only=True)
    assert payload["state"]["epoch"] == 1
    res = _train(run_dir)
    assert res.returncode == 0, res.stderr[-2000:]
    _same_run(reference, run_dir)


def test_finished_run_is_not_retrained(reference):
    before = (reference / "metrics.json").read_text()
    res = _train(reference)
    assert res.returncode == 0 and "already finished" in res.stdout
    assert (reference / "metrics.json").read_text() == before


@pytest.mark.slow
def test_checkpoint_of_other_config_is_refused_not_overwritten(tmp_path):
    run_dir = tmp_path / "run"
    assert _train(run_dir, fault="step:15").returncode != 0
    ckpt = (run_dir / CHECKPOINT_FILE).read_bytes()
    res = _train(run_dir, "optim.lr=0.01")
    assert res.returncode == 2
    assert "belongs to a different configuration" in res.stderr and "trainer.resume=false" in res.stderr
    assert (run_dir / CHECKPOINT_FILE).read_bytes() == ckpt
    res = _train(run_dir, "optim.lr=0.01", "trainer.resume=false")
    assert res.returncode == 0, res.stderr[-2000:]
    m = read_metrics(run_dir)
    assert m["status"] == "completed" and m["config"]["optim"]["lr"] == 0.01
    assert "resumed_at_epoch" not in m


class _Exploit:
    def __reduce__(self):
        import os
        return (os.system, (f"touch {MARKER}",))


MARKER = Path("/tmp/regstudy-pwned-marker")


def test_checkpoint_that_runs_code_on_unpickling_is_refused(tmp_path):
    MARKER.unlink(missing_ok=True)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open(run_dir / CHECKPOINT_FILE, "wb") as f:
        pickle.dump({"format_version": 1, "payload": _Exploit()}, f)
    # torch.save-style zip archives are the real format; a plain pickle is refused too.
    torch.save({"format_version": 1, "model": _Exploit()}, run_dir / CHECKPOINT_FILE)
    res = _train(run_dir)
    assert res.returncode == 2
    assert not MARKER.exists()
    _one_complete_safe_line(res.stderr, run_dir / CHECKPOINT_FILE)
    assert "unsafe load that can run code from the file (it names posix.system)" in res.stderr


def _one_complete_safe_line(stderr: str, path: Path) -> None:
    """One line naming the file, why, and the safe remedy; never advice to load unsafely."""
    assert stderr.strip().count("\n") == 0, stderr
    line = stderr.strip()
    assert f"checkpoint {path} cannot be loaded safely: " in line
    assert line.endswith("Move the file away, or pass trainer.resume=false to start this run "
                         "over."), line
    assert "weights_only" not in line and "Re-running" not in line and "False" not in line


def test_corrupt_checkpoint_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    res = _train(run_dir)
    assert res.returncode == 2 and "cannot be loaded safely" in res.stderr
    _one_complete_safe_line(res.stderr, run_dir / CHECKPOINT_FILE)
    assert (run_dir / CHECKPOINT_FILE).read_bytes() == b"not a checkpoint"


def test_truncated_checkpoint_says_so_completely(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save({"format_version": 1, "w": torch.zeros(2000)}, run_dir / CHECKPOINT_FILE)
    data = (run_dir / CHECKPOINT_FILE).read_bytes()
    (run_dir / CHECKPOINT_FILE).write_bytes(data[: len(data) // 2])
    res = _train(run_dir)
    assert res.returncode == 2
    _one_complete_safe_line(res.stderr, run_dir / CHECKPOINT_FILE)
    assert "the file is truncated or corrupt" in res.stderr


@pytest.mark.slow
def test_relaunched_sweep_completes_only_missing_work(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["train", "-m", *[a for a in RUN if not a.startswith("seed")], "seed=1,2",
            "trainer.epochs=2", f"hydra.sweep.dir={sweep}"]
    res = run_cli(args, env={"REGSTUDY_FAULT": "step:40"})   # job 0 has 24 steps; job 1 dies in epoch 2
    assert res.returncode != 0
    assert read_metrics(sweep / "0")["status"] == "completed"
    assert read_metrics(sweep / "1")["status"] == "running"
    first = (sweep / "0" / "metrics.json").read_text()
    res = run_cli(args, env={"REGSTUDY_FAULT": ""})
    assert res.returncode == 0, res.stderr[-2000:]
    assert (sweep / "0" / "metrics.json").read_text() == first      # not retrained
    m1 = read_metrics(sweep / "1")
    assert m1["status"] == "completed" and m1["resumed_at_epoch"] == 1


@pytest.mark.slow
def test_diverged_job_does_not_stop_the_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    res = cli_in_process(["train", "-m", *RUN, "trainer.epochs=1", "optim.lr=1e6,0.05",
                   "trainer.log_every_n_steps=1", f"hydra.sweep.dir={sweep}"])
    assert res.returncode == 0, res.stderr[-2000:]
    assert read_metrics(sweep / "0")["status"] == "diverged"
    assert read_metrics(sweep / "1")["status"] == "completed"


def test_grad_clip_limits_update_and_still_learns(tmp_path):
    res = _train(tmp_path / "run", "trainer.grad_clip=1.0", "trainer.epochs=1")
    assert res.returncode == 0, res.stderr[-2000:]
    assert read_metrics(tmp_path / "run")["config"]["trainer"]["grad_clip"] == 1.0


def test_unwritable_output_dir_is_one_clear_line(tmp_path):
    res = run_cli(["train", "hydra.run.dir=/proc/regstudy-cannot-write-here"])
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "cannot create the output directory" in res.stderr
