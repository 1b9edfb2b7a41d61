"""The CUDA paths, run on a GPU by `python -m bench.gpu_check` (skipped where CUDA is absent):
AMP bf16/fp16, the fp16 loss scaler under overflow, channels_last and cudnn.benchmark,
kill-and-resume with CUDA RNG state, divergence, and trainer.device=auto.

Every test trains through the CLI exactly as a user would, on real MNIST."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from regstudy.training.checkpoint import CHECKPOINT_FILE

from .conftest import read_metrics, run_cli
from .test_resume import _same_run

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(),
                       reason="needs a CUDA GPU: run `python -m bench.gpu_check` on one"),
    pytest.mark.usefixtures("mnist_root"),
]

# 400 SGD steps of LeNet5 on 10k real images: test_train.py's learning run, on the GPU.
LEARN = ["dataset.subset=10000", "dataset.test_subset=2000", "trainer.epochs=2",
         "trainer.batch_size=50", "trainer.log_every_n_steps=50"]


def _train(run_dir: Path, *overrides: str, fault: str = ""):
    res = run_cli(["train", *overrides, f"hydra.run.dir={run_dir}"], env={"REGSTUDY_FAULT": fault})
    return res


def _learned(run_dir: Path) -> dict:
    m = read_metrics(run_dir)
    assert m["status"] == "completed", m.get("error")
    assert m["device"].startswith("cuda"), m["device"]
    assert m["test_acc"] > 0.93, m["test_acc"]                        # chance is 0.10
    assert m["history"][-1]["train_loss"] < m["history"][0]["train_loss"]
    return m


def test_device_auto_picks_the_gpu():
    from regstudy.training.runtime import pick_device

    assert pick_device("auto").type == "cuda"


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_amp_trains_and_learns(amp, tmp_path):
    res = _train(tmp_path / "run", *LEARN, f"trainer.amp={amp}", "trainer.device=auto")
    assert res.returncode == 0, res.stderr[-3000:]
    m = _learned(tmp_path / "run")                     # device=auto took the GPU
    assert m["config"]["trainer"]["amp"] == amp


def test_fp16_overflow_is_skipped_by_the_scaler_and_the_run_still_learns(tmp_path):
    """A loss scale of 2^40 overflows fp16 gradients: the scaler must skip those steps and
    halve the scale each time (seen in the checkpoint a SIGTERM writes), not diverge."""
    run, init = tmp_path / "run", 2.0 ** 40
    args = [*LEARN, "trainer.amp=fp16", f"trainer.amp_init_scale={init}"]
    res = _train(run, *args, fault="step:60:TERM")
    assert res.returncode != 0 and read_metrics(run)["status"] == "interrupted"
    scale = torch.load(run / CHECKPOINT_FILE, weights_only=True)["scaler"]["scale"]
    skipped = math.log2(init / scale)                  # no growth within 2000 good steps
    assert skipped == int(skipped) and 5 <= skipped < 60, scale
    res = _train(run, *args)
    assert res.returncode == 0, res.stderr[-3000:]
    _learned(run)


def test_channels_last_and_cudnn_benchmark_give_the_same_accuracy(tmp_path):
    """deterministic=true turns cudnn.benchmark off; the default turns it on (on CUDA)."""
    runs = {"deterministic": ["trainer.deterministic=true"], "benchmark": [],
            "benchmark_channels_last": ["trainer.channels_last=true"]}
    acc = {}
    for name, extra in runs.items():
        res = _train(tmp_path / name, *LEARN, "trainer.device=cuda", *extra)
        assert res.returncode == 0, (name, res.stderr[-3000:])
        acc[name] = _learned(tmp_path / name)["test_acc"]
    assert max(acc.values()) - min(acc.values()) <= 0.02, acc


# test_resume.py's kill-and-resume run (3 epochs of 12 steps, dropout), on CUDA, deterministic.
RESUME = ["dataset.subset=600", "dataset.val_size=200", "dataset.test_subset=200",
          "trainer.epochs=3", "trainer.batch_size=50", "reg=dropout", "seed=5",
          "trainer.device=cuda", "trainer.deterministic=true"]


def test_kill_and_resume_on_cuda_is_bit_identical(tmp_path):
    ref, run = tmp_path / "ref", tmp_path / "run"
    res = _train(ref, *RESUME)
    assert res.returncode == 0, res.stderr[-3000:]
    assert read_metrics(ref)["device"].startswith("cuda")
    res = _train(run, *RESUME, fault="step:18")        # SIGKILL in epoch 2, batch 6 of 12
    assert res.returncode != 0 and read_metrics(run)["status"] == "running"
    rng = torch.load(run / CHECKPOINT_FILE, weights_only=True)["rng"]
    assert len(rng["cuda"]) >= 1                       # the CUDA generator (dropout) is saved
    res = _train(run, *RESUME)
    assert res.returncode == 0, res.stderr[-3000:]
    assert read_metrics(run)["resumed_at_epoch"] == 1
    _same_run(ref, run)


@pytest.mark.parametrize("amp", ["none", "bf16"])
def test_divergence_on_cuda_is_recorded(amp, tmp_path):
    res = _train(tmp_path / "run", *LEARN, "trainer.epochs=1", "optim.lr=1e6",
                 "trainer.log_every_n_steps=1", "trainer.device=cuda", f"trainer.amp={amp}")
    assert res.returncode == 0, res.stderr[-3000:]
    m = read_metrics(tmp_path / "run")
    assert m["status"] == "diverged" and m["diverged_at"]["step"] >= 1, m.get("diverged_at")
    assert not (tmp_path / "run" / CHECKPOINT_FILE).exists()
