"""Early stopping on validation loss: the patience rule, and a real run that stops."""

from __future__ import annotations

import math

import pytest

from regstudy.training.early_stop import EarlyStopping

from .conftest import cli_in_process, read_metrics


def epochs_until_stop(patience: int, losses) -> int | None:
    stopper = EarlyStopping(patience)
    return next((i for i, loss in enumerate(losses, start=1) if stopper.should_stop(loss)), None)


@pytest.mark.parametrize("patience, losses, stop_at", [
    (2, [1.0, 0.9, 0.95, 0.96, 0.5], 4),      # two epochs after the best at epoch 2
    (2, [1.0, 0.9, 0.95, 0.8, 0.85, 0.7], None),  # each plateau shorter than patience
    (1, [1.0, 1.0], 2),                        # equal is not an improvement
    (3, [1.0, math.nan, math.nan, math.nan], 4),  # non-finite never counts as best
    (0, [1.0, 2.0, 3.0, 4.0], None),           # 0 = off
])
def test_patience_counts_epochs_without_a_lower_loss(patience, losses, stop_at):
    assert epochs_until_stop(patience, losses) == stop_at


def test_run_stops_early_and_records_it(tmp_path, mnist_root):
    # lr 0.5 on 200 images overshoots: the validation loss stops improving within a few epochs.
    out = cli_in_process(["train", "dataset.subset=200", "dataset.test_subset=200", "dataset.val_size=100",
                   "trainer.epochs=30", "trainer.early_stop_patience=2", "optim.lr=0.5",
                   "trainer.progress=lines", f"hydra.run.dir={tmp_path}"],
                  env={"REGSTUDY_DATA": str(mnist_root)})
    assert out.returncode == 0, out.stderr[-2000:]
    m = read_metrics(tmp_path)
    losses = [row["val_loss"] for row in m["history"]]
    assert m["stopped_early"] is True and m["epochs_run"] == len(losses) < 30
    assert epochs_until_stop(2, losses) == m["epochs_run"]


def test_patience_without_a_validation_set_is_rejected(tmp_path):
    out = cli_in_process(["train", "dataset.val_size=0", "trainer.early_stop_patience=3",
                   f"hydra.run.dir={tmp_path}"])
    assert out.returncode != 0
    assert "trainer.early_stop_patience needs a validation set" in out.stderr
