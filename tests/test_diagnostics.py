"""Gradient-flow and activation diagnostics: the numbers, the record, TensorBoard, the figures."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import matplotlib.image
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from regstudy.diagnostics.activations import ActivationStats
from regstudy.diagnostics.gradflow import GradFlow, finite_abs, grad_abs_stats, weight_params
from regstudy.diagnostics.schedule import RecordSchedule
from regstudy.models.layers import make_activation
from regstudy.models.sites import LogitSite, record_sites
from regstudy.record.tensorboard import TBLogger
from regstudy.report.run_plots import run_labels

from .conftest import TINY, cli_in_process, free_port, read_metrics, real_data_root

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), make_activation("relu"),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 10), LogitSite())


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


def read_events(tb_dir: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


# --- what is measured ---------------------------------------------------------------------------

def test_weight_selection_excludes_biases_and_norm_weights_unless_asked():
    net = small_net()
    assert [n for n, _ in weight_params(net)] == ["0", "4"]
    assert [n for n, _ in weight_params(net, norm_weights=True)] == ["0", "1", "4"]
    assert [n for n, _ in weight_params(net, norm_weights=True, biases=True)] == \
        ["0", "0.bias", "1", "1.bias", "4", "4.bias"]


def test_grad_stats_equal_direct_computation():
    net = small_net()
    F.cross_entropy(net(torch.randn(8, 1, 8, 8)), torch.arange(8)).backward()
    params = [p for _, p in weight_params(net, norm_weights=True, biases=True)]
    stats = grad_abs_stats(params)
    direct = torch.tensor([[p.grad.abs().mean(), p.grad.abs().max()] for p in params])
    assert stats.shape == (6, 2)
    torch.testing.assert_close(stats, direct, rtol=1e-5, atol=0)


def test_parameter_without_gradient_is_nan_not_zero():
    net = small_net()
    stats = grad_abs_stats([net[0].weight])
    assert torch.isnan(stats).all()


def test_histogram_values_drop_non_finite_gradients():
    """A diverging step's NaN/inf gradients reach the histogram before the loop stops the run."""
    g = torch.tensor([-2.0, float("nan"), 3.0, float("-inf")])
    assert finite_abs(g).tolist() == [2.0, 3.0]
    assert finite_abs(torch.full((3,), float("nan"))) is None
    assert finite_abs(None) is None
    ok = torch.tensor([-1.0, 0.5])
    assert finite_abs(ok).tolist() == [1.0, 0.5]


def test_gradient_flow_figure_of_a_diverged_step_still_renders(tmp_path):
    """All-NaN/inf statistics (the last record of a diverged run) give a figure, not an error."""
    from regstudy.report.plots import GradFlowSeries, gradflow_figure, save_figure
    nan, inf = float("nan"), float("inf")
    series = GradFlowSeries("diverged", ["conv1", "fc"], [nan, inf], [nan, nan])
    save_figure(gradflow_figure([series]), tmp_path / "g.png")
    assert matplotlib.image.imread(tmp_path / "g.png").ndim == 3
    mixed = GradFlowSeries("mixed", ["conv1", "fc"], [1e-3, inf], [2e-3, nan])
    assert gradflow_figure([mixed]).axes[0].get_yscale() == "log"


def test_default_schedule_is_last_batch_of_each_epoch():
    s = RecordSchedule(every_n_steps=0, steps_per_epoch=5, epochs=3, hist_every_n_epochs=2)
    assert [t for t in range(1, 16) if s.due(t)] == [5, 10, 15]
    assert [t for t in range(1, 16) if s.hist_due(t)] == [10, 15]   # every 2nd epoch + the last
    assert [s.tb_step(t) for t in (5, 10, 15)] == [1, 2, 3]
    cut = RecordSchedule(0, steps_per_epoch=5, epochs=3, max_steps=7)
    assert [t for t in range(1, 8) if cut.due(t)] == [5, 7]           # max_steps ends the run
    every = RecordSchedule(3, steps_per_epoch=5, epochs=3)
    assert [t for t in range(1, 16) if every.due(t)] == [3, 6, 9, 12, 15]
    assert every.tb_step(9) == 9


def drive(net, observers, steps_per_epoch: int, epochs: int):
    """What the training loop does around its observers; returns the epoch rows and, per
    recording step, the directly computed gradient and activation statistics."""
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(1)
    rows, direct = [], {}
    for step in range(1, steps_per_epoch * epochs + 1):
        outputs = []
        handle = net[2].act.register_forward_hook(
            lambda m, i, o, outputs=outputs: outputs.append(o.detach()))
        want = any(o.wants_sites(step) for o in observers)
        with record_sites(net, want) as rec:
            loss = F.cross_entropy(net(torch.randn(16, 1, 8, 8, generator=gen)),
                                   torch.randint(0, 10, (16,), generator=gen))
        handle.remove()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for obs in observers:
            obs.after_backward(step, net, rec)
        direct[step] = {"mean": {"0": net[0].weight.grad.abs().mean().item(),
                                 "4": net[4].weight.grad.abs().mean().item()},
                        "max": {"0": net[0].weight.grad.abs().max().item(),
                                "4": net[4].weight.grad.abs().max().item()},
                        "act": (outputs[0].mean().item(), outputs[0].std().item(),
                                (outputs[0] == 0).float().mean().item())}
        opt.step()
        if step % steps_per_epoch == 0:
            row = {}
            for obs in observers:
                row.update(obs.epoch_summary(step // steps_per_epoch, step))
            rows.append(row)
    for obs in observers:
        obs.on_train_end(None)
    return rows, direct


def test_observers_record_last_batch_of_epoch_into_history_tensorboard_and_png(tmp_path):
    net = small_net()
    schedule = RecordSchedule(0, steps_per_epoch=3, epochs=2, hist_every_n_epochs=1)
    tb = TBLogger(tmp_path / "tb")
    observers = [GradFlow(net, schedule, tb, tmp_path), ActivationStats(net, schedule, tb)]
    rows, direct = drive(net, observers, steps_per_epoch=3, epochs=2)
    tb.close()

    for epoch, row in enumerate(rows, start=1):
        step = 3 * epoch
        gf = row["grad_flow"]
        assert gf["step"] == step and list(gf["mean"]) == ["0", "4"]
        for col in ("mean", "max"):
            assert gf[col] == pytest.approx(direct[step][col], rel=1e-5)
        act = row["activations"]
        assert list(act["mean"]) == ["2"]                  # the one activation; logits excluded
        assert (act["mean"]["2"], act["std"]["2"], act["zero_frac"]["2"]) == \
            pytest.approx(direct[step]["act"], rel=1e-5)
        assert 0.2 < act["zero_frac"]["2"] < 0.8           # a ReLU of a BN output: about half

    acc = read_events(tmp_path / "tb")
    tags = acc.Tags()
    assert {"grad_flow/mean/0", "grad_flow/max/0", "grad_flow/mean/4", "grad_flow/max/4",
            "activations/mean/2", "activations/std/2", "activations/zero_frac/2"} <= set(tags["scalars"])
    events = acc.Scalars("grad_flow/max/4")
    assert [e.step for e in events] == [1, 2]              # x axis: epochs
    assert [e.value for e in events] == pytest.approx([direct[3]["max"]["4"], direct[6]["max"]["4"]],
                                                      rel=1e-5)
    assert {"grad_flow/hist/0", "grad_flow/hist/4"} <= set(tags["histograms"])
    assert tags["images"] == ["grad_flow/figure"]
    assert len(acc.Images("grad_flow/figure")) == 2
    assert_png(tmp_path / "grad_flow.png")


def test_every_n_steps_writes_tensorboard_at_optimizer_steps(tmp_path):
    net = small_net()
    schedule = RecordSchedule(2, steps_per_epoch=3, epochs=2)
    tb = TBLogger(tmp_path / "tb")
    rows, direct = drive(net, [GradFlow(net, schedule, tb, tmp_path)], 3, 2)
    tb.close()
    events = read_events(tmp_path / "tb").Scalars("grad_flow/mean/0")
    assert [e.step for e in events] == [2, 4, 6]
    assert [e.value for e in events] == pytest.approx([direct[s]["mean"]["0"] for s in (2, 4, 6)],
                                                      rel=1e-5)
    assert [r["grad_flow"]["step"] for r in rows] == [2, 6]   # history: the epoch's last record


def test_records_queued_mid_epoch_survive_a_checkpoint(tmp_path):
    """A signal checkpoint mid-epoch saves the queued records; the resumed run writes them."""
    net = small_net()
    schedule = RecordSchedule(1, steps_per_epoch=4, epochs=1)
    first = GradFlow(net, schedule, TBLogger(tmp_path / "a"), tmp_path)
    F.cross_entropy(net(torch.randn(4, 1, 8, 8)), torch.arange(4)).backward()
    first.after_backward(1, net, None)
    saved = first.state_dict()
    tb = TBLogger(tmp_path / "b")
    resumed = GradFlow(net, schedule, tb, tmp_path)
    resumed.load_state_dict(saved)
    row = resumed.epoch_summary(1, 1)
    tb.close()
    assert row["grad_flow"]["step"] == 1
    assert row["grad_flow"]["max"]["4"] == pytest.approx(net[4].weight.grad.abs().max().item())
    assert [e.step for e in read_events(tmp_path / "b").Scalars("grad_flow/max/4")] == [1]


def test_legend_labels_keep_only_overrides_that_differ():
    records = [{"overrides": ["model=vgg08", "optim=adam", "hydra.run.dir=a"]},
               {"overrides": ["model=vgg38", "optim=adam", "reg=bn_before_relu"]}]
    assert run_labels(records, [Path("a"), Path("b")]) == ["model=vgg08",
                                                           "model=vgg38 reg=bn_before_relu"]
    assert run_labels([{"overrides": []}], [Path("runs/x")]) == ["x"]


# --- a real run -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def diag_run(tmp_path_factory):
    """Two epochs of LeNet5 on 500 real MNIST images with histograms every epoch."""
    if real_data_root("MNIST") is None:
        pytest.skip("real MNIST not found: set REGSTUDY_DATA (CI exports ../shared/datasets)")
    run_dir = tmp_path_factory.mktemp("diag") / "run"
    args = [a for a in TINY if not a.startswith("trainer.epochs=")]
    res = cli_in_process(["train", *args, "trainer.epochs=2", "diag.hist_every_n_epochs=1",
                   f"hydra.run.dir={run_dir}"])
    assert res.returncode == 0, res.stderr[-3000:]
    return run_dir


LENET_WEIGHTS = ["features.1", "features.4", "classifier.1", "classifier.3", "classifier.5"]


def test_run_records_gradient_flow_per_epoch(diag_run):
    m = read_metrics(diag_run)
    assert m["config"]["diag"]["every_n_steps"] == 0
    steps_per_epoch = 500 // 50
    for row in m["history"]:
        gf = row["grad_flow"]
        assert gf["step"] == row["epoch"] * steps_per_epoch    # the epoch's last batch
        assert list(gf["mean"]) == LENET_WEIGHTS
        assert all(0 < gf["mean"][n] < gf["max"][n] for n in LENET_WEIGHTS)
        assert set(row["activations"]["zero_frac"]) == {"features.2", "features.5",
                                                        "classifier.2", "classifier.4"}
    assert_png(diag_run / "grad_flow.png")


def test_run_event_file_holds_gradient_flow(diag_run):
    m = read_metrics(diag_run)
    acc = read_events(diag_run / "tb")
    tags = acc.Tags()
    assert {f"grad_flow/{c}/{n}" for c in ("mean", "max") for n in LENET_WEIGHTS} <= set(tags["scalars"])
    for name in ("features.1", "classifier.5"):
        assert [e.value for e in acc.Scalars(f"grad_flow/mean/{name}")] == pytest.approx(
            [r["grad_flow"]["mean"][name] for r in m["history"]], rel=1e-6)
    assert {f"grad_flow/hist/{n}" for n in LENET_WEIGHTS} <= set(tags["histograms"])
    assert "grad_flow/figure" in tags["images"]


def _get_json(url: str):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    with opener.open(url, timeout=5) as resp:
        return json.loads(resp.read())


def test_tensorboard_server_serves_gradient_flow_tags(diag_run):
    """The real `tensorboard` binary, on a loopback port, through its HTTP data API."""
    port = free_port()
    exe = Path(sys.executable).with_name("tensorboard")
    proc = subprocess.Popen([str(exe), "--logdir", str(diag_run / "tb"), "--port", str(port),
                             "--host", "127.0.0.1", "--load_fast", "false"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/data/plugin/scalars"
    try:
        tags, deadline = {}, time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                tags = _get_json(f"{base}/tags")
                if any("grad_flow/mean/features.1" in t for t in tags.values()):
                    break
            except OSError:
                pass                      # not listening yet, or still loading the event file
            time.sleep(0.5)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        (run, run_tags), = tags.items()
        assert {f"grad_flow/{c}/{n}" for c in ("mean", "max") for n in LENET_WEIGHTS} <= set(run_tags)
        query = urllib.parse.urlencode({"run": run, "tag": "grad_flow/max/classifier.5"})
        points = _get_json(f"{base}/scalars?{query}")      # [[wall_time, step, value], ...]
        expected = [r["grad_flow"]["max"]["classifier.5"] for r in read_metrics(diag_run)["history"]]
        assert [p[1] for p in points] == [1, 2]
        assert [p[2] for p in points] == pytest.approx(expected, rel=1e-6)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def test_plot_commands_overlay_runs_without_torch(diag_run, tmp_path):
    code = ("import sys; from regstudy.cli import main; "
            f"a = main(['plot', 'gradflow', {str(diag_run)!r}, {str(diag_run)!r}, "
            f"'-o', {str(tmp_path / 'gf.png')!r}]); "
            f"b = main(['plot', 'curves', {str(diag_run)!r}, '-o', {str(tmp_path / 'c.png')!r}]); "
            "assert a == b == 0; assert 'torch' not in sys.modules, 'plot imported torch'")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert_png(tmp_path / "gf.png")
    assert_png(tmp_path / "c.png")


def test_plot_reports_a_run_without_gradient_flow(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"history": [{"epoch": 1}], "overrides": []}))
    res = cli_in_process(["plot", "gradflow", str(tmp_path), "-o", str(tmp_path / "x.png")])
    assert res.returncode == 2
    assert "no gradient flow recorded" in res.stderr and "Traceback" not in res.stderr
