"""A run says where it is and how to continue it, starts over cleanly, and a failed check
leaves nothing behind."""

from __future__ import annotations

import json
import shlex

import pytest

from regstudy.training.checkpoint import CHECKPOINT_FILE

from .conftest import TINY, cli_in_process, read_metrics, run_cli

pytestmark = pytest.mark.usefixtures("mnist_root")

RUN = [*TINY, "diag.enabled=false", "trainer.progress=lines"]


def test_run_prints_its_directory_at_start_and_end(tmp_path):
    run_dir = tmp_path / "run"
    res = cli_in_process(["train", *RUN, f"hydra.run.dir={run_dir}"])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].endswith(f"run directory: {run_dir}")
    assert "completed, test acc" in lines[-1] and lines[-1].endswith(f"run directory: {run_dir}")


def test_started_over_run_moves_the_old_events_and_log_aside(tmp_path):
    run_dir = tmp_path / "run"
    assert cli_in_process(["train", *RUN, f"hydra.run.dir={run_dir}"]).returncode == 0
    old_events = sorted(p.name for p in (run_dir / "tb").iterdir())
    res = cli_in_process(["train", *RUN, "trainer.resume=false", f"hydra.run.dir={run_dir}"])
    assert res.returncode == 0, res.stderr
    assert "earlier run's events, log and record are in" in res.stdout
    events = list((run_dir / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1 and events[0].name not in old_events
    (aside,) = (run_dir / "replaced").iterdir()
    assert sorted(p.name for p in (aside / "tb").iterdir()) == old_events
    assert (aside / "train.log").read_text().count("test acc") >= 1
    assert (run_dir / "train.log").read_text().count("completed, test acc") == 1
    assert json.loads((aside / "record.json").read_text())["status"] == "completed"
    assert not (aside / "metrics.json").exists()   # tables do not count the old run


def test_corrupt_record_is_retrained_and_said_so(tmp_path):
    run_dir = tmp_path / "run"
    assert cli_in_process(["train", *RUN, f"hydra.run.dir={run_dir}"]).returncode == 0
    (run_dir / "metrics.json").write_text('{"status": "compl')
    res = cli_in_process(["train", *RUN, f"hydra.run.dir={run_dir}"])
    assert res.returncode == 0, res.stderr
    said = [ln for ln in res.stdout.splitlines() if "cannot be read" in ln]
    assert len(said) == 1 and "training this run again" in said[0]
    assert read_metrics(run_dir)["status"] == "completed"


@pytest.mark.slow
def test_sigterm_during_start_up_is_interrupted_and_says_how_to_continue(tmp_path):
    run_dir = tmp_path / "run"
    res = run_cli(["train", *RUN, f"hydra.run.dir={run_dir}"],
                  env={"REGSTUDY_FAULT": "start:1:TERM"})
    assert res.returncode == 143, res.stderr
    assert read_metrics(run_dir)["status"] == "interrupted"
    assert (run_dir / CHECKPOINT_FILE).is_file()
    (line,) = [ln for ln in res.stdout.splitlines() if "Continue with: " in ln]
    command = shlex.split(line.split("Continue with: ", 1)[1])
    assert command[:2] == ["regstudy", "train"] and f"hydra.run.dir={run_dir}" in command
    res = cli_in_process(command[1:], env={"REGSTUDY_FAULT": ""})
    assert res.returncode == 0, res.stderr
    m = read_metrics(run_dir)
    assert m["status"] == "completed" and m["resumed_at_epoch"] == 0


@pytest.mark.slow
def test_failed_data_check_leaves_no_folder_and_latest_links_the_newest_run(tmp_path):
    """In Hydra's default outputs/<name>/<time>/: a run stopped by a data check leaves no
    outputs/ at all; a run that trains is reachable as outputs/<name>/latest."""
    res = run_cli(["train", *RUN, f"dataset.root={tmp_path / 'nodata'}",
                   "dataset.download=false"], cwd=tmp_path)
    assert res.returncode == 2 and "mnist not found" in res.stderr
    assert not (tmp_path / "outputs").exists()
    res = run_cli(["train", *RUN], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (run_dir,) = [p for p in (tmp_path / "outputs" / "lenet5-mnist").iterdir()
                  if not p.is_symlink()]
    latest = tmp_path / "outputs" / "lenet5-mnist" / "latest"
    assert latest.is_symlink() and latest.resolve() == run_dir.resolve()
    res = cli_in_process(["train", *RUN, f"hydra.run.dir={latest}"])
    assert res.returncode == 0 and "already finished" in res.stdout


@pytest.mark.slow
def test_each_sweep_job_line_carries_its_job_number(tmp_path):
    sweep_dir = tmp_path / "sweep"
    res = cli_in_process(["train", "-m", *RUN, "seed=0,1", "trainer.max_steps=2",
                          f"hydra.sweep.dir={sweep_dir}"])
    assert res.returncode == 0, res.stderr
    for job in ("0", "1"):
        mine = [ln for ln in res.stdout.splitlines() if f"[job {job}] " in ln]
        assert mine[0].endswith(f"run directory: {sweep_dir / job}")
        assert any("lenet5 on mnist" in ln for ln in mine)
        assert mine[-1].endswith(f"run directory: {sweep_dir / job}")
    regstudy_lines = [ln for ln in res.stdout.splitlines() if "[regstudy]" in ln]
    assert all("[job " in ln for ln in regstudy_lines if "sweep table" not in ln
               and "sweep report" not in ln and "torch threads" not in ln), regstudy_lines
