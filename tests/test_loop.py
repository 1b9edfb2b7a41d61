"""The loop's seams, in process: an observer ending a run (StopRun), the thread count as part of
the config, the data root when REGSTUDY_DATA is empty."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
import torch

from regstudy.config.compose import compose
from regstudy.observer import Observer, StopRun
from regstudy.training.checkpoint import CHECKPOINT_FILE
from regstudy.training.run import train_run

from .conftest import TINY, read_metrics

pytestmark = pytest.mark.usefixtures("mnist_root")


class PruneAfter(Observer):
    """Ends the run after `epoch` epochs, as a search's pruner would; remembers what it saw."""

    def __init__(self, epoch: int) -> None:
        self.epoch, self.rows = epoch, []

    def on_epoch_end(self, row: Dict[str, Any]) -> None:
        self.rows.append(dict(row))
        if row["epoch"] >= self.epoch:
            raise StopRun("pruned", f"val_acc {row['val_acc']:.3f} below the median")


@pytest.fixture(autouse=True)
def _keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _cfg(*extra: str):
    return compose([*TINY, "diag.enabled=false", *extra])


def test_observer_stop_run_prunes_without_test_or_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    pruner = PruneAfter(epoch=2)
    record = train_run(_cfg("trainer.epochs=4"), run_dir, [], extra_observers=[pruner])
    m = read_metrics(run_dir)
    assert record["status"] == m["status"] == "pruned"
    assert "below the median" in m["stop_reason"]
    assert m["epochs_run"] == 2 and [r["epoch"] for r in m["history"]] == [1, 2]
    # the observer saw complete rows: training, validation and built-in observers' values
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "zsq/mean"} <= set(pruner.rows[-1])
    assert m["best_epoch"] in (1, 2)
    assert m["best_val_acc"] == max(r["val_acc"] for r in m["history"])
    assert m["best_val_loss"] == m["history"][m["best_epoch"] - 1]["val_loss"]
    assert "test_acc" not in m and not (run_dir / "best_model.pt").exists()
    assert not (run_dir / CHECKPOINT_FILE).exists()
    # finished: the same run again returns the record and trains nothing
    again = PruneAfter(epoch=1)
    assert train_run(_cfg("trainer.epochs=4"), run_dir, [], extra_observers=[again]) == m
    assert again.rows == []


def test_thread_count_is_recorded_and_reproduces_bit_for_bit(tmp_path):
    records: List[dict] = []
    for name in ("a", "b"):
        records.append(train_run(_cfg("trainer.threads=1", "reg=dropout"), tmp_path / name, []))
    assert records[0]["config"]["trainer"]["threads"] == 1
    def strip(m):
        return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in m["history"]]
    assert strip(records[0]) == strip(records[1])
    assert records[0]["test_loss"] == records[1]["test_loss"]
    auto = train_run(_cfg("trainer.threads=0", "trainer.max_steps=2"), tmp_path / "auto", [])
    assert auto["config"]["trainer"]["threads"] == torch.get_num_threads() >= 1


def test_empty_data_variable_means_default_root(monkeypatch):
    monkeypatch.setenv("REGSTUDY_DATA", "")
    assert compose([]).dataset.root == "./data"
    monkeypatch.setenv("REGSTUDY_DATA", "/somewhere")
    assert compose([]).dataset.root == "/somewhere"
