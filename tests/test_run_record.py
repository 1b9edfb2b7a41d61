"""The run record: the one reader of a run or sweep directory's files. A record written by an
earlier regstudy still reads; a missing, partial or broken one reads as such, never raises."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from regstudy.record.run_record import (
    FINISHED,
    METRICS_FILE,
    RecordWriter,
    RunRecord,
    annotate_trial,
    override_key,
    override_value,
    read_plan,
    read_search,
    split_overrides,
    write_plan,
    write_search,
)

OLD_RECORD = Path(__file__).parent / "data" / "metrics_v0.1.0.json"   # as 0.1.0 wrote it


def test_a_record_written_by_the_previous_version_loads(tmp_path):
    shutil.copy(OLD_RECORD, tmp_path / METRICS_FILE)
    record = RunRecord.load(tmp_path)
    assert record.readable and record.problem == ""
    assert record.status == "completed" and record.finished
    assert record.overrides[:2] == ["dataset.subset=500", "dataset.val_size=500"]
    assert record.params["trainer.epochs"] == "2"
    assert [row["epoch"] for row in record.history] == [1, 2]
    assert record.metrics["test_acc"] == record.get("test_acc") == 0.34
    assert record.config["trainer"]["epochs"] == 2 and record.seed == 0
    assert record.search == {} and record.note() == ""


def test_missing_unreadable_and_partial_records_read_without_raising(tmp_path):
    missing = RunRecord.load(tmp_path / "nothing")
    assert (missing.status, missing.readable, missing.finished) == ("missing", False, False)
    assert RunRecord.read(tmp_path / "nothing") is None
    (tmp_path / METRICS_FILE).write_text('{"status": "compl')
    broken = RunRecord.load(tmp_path)
    assert broken.status == "unreadable" and "JSONDecodeError" in broken.problem
    (tmp_path / METRICS_FILE).write_text("[1, 2]")
    assert RunRecord.load(tmp_path).status == "unreadable"
    (tmp_path / METRICS_FILE).write_text('{"status": "running", "history": [{"epoch": 1}]}')
    partial = RunRecord.load(tmp_path)
    assert partial.status == "running" and not partial.finished
    assert partial.overrides == [] and partial.config == {} and partial.seed is None
    assert "killed after 1 epoch" in partial.note()
    (tmp_path / METRICS_FILE).write_text("{}")
    assert RunRecord.load(tmp_path).status == "unknown"


def test_the_writer_and_the_reader_agree(tmp_path):
    writer = RecordWriter(tmp_path, {"overrides": ["+reg.l2.strength=1e-4", "seed=3"],
                                     "seed": 3})
    assert RunRecord.load(tmp_path).status == "running"
    writer.add_epoch({"epoch": 1, "val_acc": 0.5, "nested": {"a": 1}})
    writer.finish("diverged", diverged_at={"epoch": 1, "step": 7})
    record = RunRecord.load(tmp_path)
    assert record.data == writer.record().data
    assert record.status == "diverged" and record.finished and "diverged" in FINISHED
    assert record.params == {"reg.l2.strength": "1e-4", "seed": "3"}
    assert record.note() == "loss non-finite at epoch 1 step 7"
    assert (tmp_path / "history.csv").read_text().splitlines()[0] == "epoch,val_acc"


def test_override_parsing():
    assert override_key("+reg.l2.strength=1") == "reg.l2.strength"
    assert override_key("++a.b=c=d") == "a.b" and override_value("++a.b=c=d") == "c=d"
    assert override_key("~trainer.amp") == "trainer.amp" and override_value("~x") == ""
    assert split_overrides(["a=1", "+b=2", "a=3"]) == {"a": "3", "b": "2"}


def test_a_trial_annotated_by_the_sweeper_and_the_sweep_files(tmp_path):
    RecordWriter(tmp_path, {})   # a killed trial: its record stays `running`
    annotate_trial(tmp_path, {"trial": 4}, failed="the process was killed")
    record = RunRecord.load(tmp_path)
    assert record.search == {"trial": 4} and record.status == "failed"
    assert record.get("error") == "the process was killed"
    annotate_trial(tmp_path / "none", {"trial": 5})   # no record: nothing written
    assert not (tmp_path / "none").exists()
    assert read_search(tmp_path) is None
    write_search(tmp_path, {"n_trials": 2})
    assert read_search(tmp_path) == {"n_trials": 2}
    write_plan(tmp_path / "sweep", [["seed=0"], ["seed=1"]])
    assert [j["subdir"] for j in read_plan(tmp_path / "sweep")] == ["0", "1"]
    (tmp_path / "sweep" / "sweep_plan.json").write_text(json.dumps({"jobs": 3}))
    assert read_plan(tmp_path / "sweep") is None


def test_import_regstudy_stays_light():
    code = ("import sys, regstudy; regstudy.RunRecord; "
            "assert not {'torch', 'pandas', 'hydra'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
