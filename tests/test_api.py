"""The Python API a notebook uses: `regstudy.train` trains one run in process and returns its
record (one line per epoch shown); `regstudy.load` gives a sweep's runs as a DataFrame."""

from __future__ import annotations

import pytest
import torch

import regstudy
from regstudy.record.run_record import write_plan

from .conftest import TINY

pytestmark = pytest.mark.usefixtures("mnist_root")
FEW = [*TINY, "trainer.epochs=2", "diag.enabled=false", "trainer.threads=1"]


@pytest.fixture(autouse=True)
def _keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_train_learns_and_returns_the_record(tmp_path, capsys):
    run_dir = str(tmp_path / "run")   # a str is a path too
    record = regstudy.train(overrides=FEW, run_dir=run_dir)
    assert isinstance(record, regstudy.RunRecord)
    assert record.status == "completed" and record.finished
    assert record.get("test_acc") > 0.2          # 10 classes: chance is 0.1
    assert [r["epoch"] for r in record.history] == [1, 2]
    assert record.overrides == FEW
    assert regstudy.RunRecord.load(run_dir).data == record.data
    shown = capsys.readouterr().out
    assert "epoch 1/2" in shown and "epoch 2/2" in shown   # progress per epoch
    again = regstudy.train(overrides=FEW, run_dir=run_dir, verbose=False)   # finished: kept
    assert again.data == record.data and capsys.readouterr().out == ""


def test_load_gives_one_row_per_run_with_override_columns(tmp_path):
    sweep = tmp_path / "sweep"
    jobs = [[*FEW, "optim.lr=0.05"], [*FEW, "optim.lr=0.1"], [*FEW, "optim.lr=0.2"]]
    write_plan(sweep, jobs)   # the third job never started: a `missing` row
    for num, overrides in enumerate(jobs[:2]):
        regstudy.train(overrides, sweep / str(num), verbose=False)
    runs = regstudy.load(sweep)
    assert len(runs) == 3
    assert runs["status"].tolist() == ["completed", "completed", "missing"]
    assert runs["optim.lr"].tolist() == ["0.05", "0.1", "0.2"]
    assert runs["trainer.epochs"].tolist() == ["2"] * 3
    assert "overrides" not in runs and runs["test_acc"].iloc[:2].notna().all()
    assert len(regstudy.load(str(sweep / "0"))) == 1
