"""End-to-end runs of `regstudy train` on real MNIST: learning, the record, determinism, errors."""

from __future__ import annotations

import csv

import pytest

from regstudy.provenance import source_commit

from .conftest import TINY, cli_in_process, read_metrics


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory):
    """A few hundred SGD steps of LeNet5 on 10k real MNIST images (shared by the tests below)."""
    from .conftest import real_data_root

    if real_data_root("MNIST") is None:
        pytest.skip("real MNIST not found: set REGSTUDY_DATA (CI exports ../shared/datasets)")
    run_dir = tmp_path_factory.mktemp("learn") / "run"
    res = cli_in_process(["train", "dataset.subset=10000", "dataset.test_subset=2000",
                   "trainer.epochs=2", "trainer.batch_size=50", "trainer.log_every_n_steps=50",
                   f"hydra.run.dir={run_dir}"])
    assert res.returncode == 0, res.stderr[-3000:]
    return run_dir


@pytest.mark.slow
def test_short_real_mnist_run_learns(learned_run):
    m = read_metrics(learned_run)
    assert m["status"] == "completed"
    assert m["steps"] == 400 and m["epochs_run"] == 2
    assert m["test_acc"] > 0.93, m["test_acc"]          # chance is 0.10
    assert m["history"][1]["train_loss"] < m["history"][0]["train_loss"]


@pytest.mark.slow
def test_record_has_what_a_paper_needs(learned_run):
    m = read_metrics(learned_run)
    for key in ("test_acc", "test_error", "last_test_acc", "best_val_acc", "best_epoch",
                "wall_time_s", "samples_per_s", "num_params", "device", "torch_version",
                "regstudy_version", "overrides", "config", "history"):
        assert key in m, key
    assert m["num_params"] == 61706          # classic LeNet5 for 1x28x28, 10 classes
    assert m["git_commit"] == source_commit()   # this checkout's commit (None outside git)
    assert m["test_error"] == pytest.approx(1 - m["test_acc"])
    assert m["config"]["dataset"]["subset"] == 10000
    assert "dataset.subset=10000" in m["overrides"]
    assert (learned_run / ".hydra" / "config.yaml").is_file()
    rows = list(csv.DictReader(open(learned_run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["val_acc"]) == pytest.approx(m["history"][1]["val_acc"])


@pytest.mark.slow
def test_tensorboard_has_curves_and_hparams_in_one_file(learned_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = list((learned_run / "tb").iterdir())
    assert len(files) == 1 and files[0].name.startswith("events.out.tfevents")
    acc = EventAccumulator(str(learned_run / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "test/acc", "lr"} <= tags
    assert [e.value for e in acc.Scalars("val/acc")] == pytest.approx(
        [r["val_acc"] for r in read_metrics(learned_run)["history"]])
    plugins = acc.PluginTagToContent("hparams")
    assert "_hparams_/experiment" in plugins and "_hparams_/session_start_info" in plugins


@pytest.mark.usefixtures("mnist_root")
def test_same_seed_same_numbers(tmp_path):
    records = []
    for name in ("a", "b", "c"):
        seed = "seed=1" if name != "c" else "seed=2"
        res = cli_in_process(["train", *TINY, "reg=[l2,dropout]", seed, f"hydra.run.dir={tmp_path / name}"])
        assert res.returncode == 0, res.stderr[-2000:]
        records.append(read_metrics(tmp_path / name))
    def strip(m):
        return [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in m["history"]]
    assert strip(records[0]) == strip(records[1])
    assert records[0]["test_acc"] == records[1]["test_acc"]
    assert records[0]["test_loss"] == records[1]["test_loss"]
    assert strip(records[0]) != strip(records[2])


def test_missing_dataset_gives_clear_message(tmp_path):
    run_dir = tmp_path / "run"
    res = cli_in_process(["train", f"dataset.root={tmp_path / 'nodata'}", "dataset.download=false",
                   f"hydra.run.dir={run_dir}"])
    assert res.returncode == 2
    assert "mnist not found" in res.stderr and "train-images-idx3-ubyte" in res.stderr
    assert str(tmp_path / "nodata" / "MNIST" / "raw") in res.stderr
    assert "Traceback" not in res.stderr and not run_dir.exists()


def test_failed_download_gives_clear_message(tmp_path):
    """No network here (and in CI): torchvision's download fails; we say what is missing."""
    res = cli_in_process(["train", "dataset=fashion_mnist", f"dataset.root={tmp_path / 'nodata'}",
                   f"hydra.run.dir={tmp_path / 'run'}"], env={"no_proxy": "", "http_proxy": "http://127.0.0.1:9",
                                                          "https_proxy": "http://127.0.0.1:9"})
    assert res.returncode == 2
    assert "fashion_mnist not found: download failed" in res.stderr
    assert "urllib" not in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "nodata").exists()   # the failed download leaves no folders
    assert not (tmp_path / "run").exists()


@pytest.mark.usefixtures("mnist_root")
def test_diverging_run_is_recorded_not_crashed(tmp_path):
    res = cli_in_process(["train", *TINY, "optim.lr=1e6", "trainer.log_every_n_steps=1",
                   f"hydra.run.dir={tmp_path / 'run'}"])
    assert res.returncode == 0, res.stderr[-2000:]
    m = read_metrics(tmp_path / "run")
    assert m["status"] == "diverged" and m["diverged_at"]["epoch"] == 1
    assert "test_acc" not in m
