"""The GPU check rehearsed on the CPU (`python -m bench.gpu_check --device cpu --quick`), so the
GPU's time goes to measuring, not debugging; and the vectorized-copies math it relies on.
Nothing here checks how fast anything is."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from bench.fused import StackedCopies, check_equivalence, lenet_copies
from bench.gpu_loops import AMPS, LOOPS, MODELS, config_for

from .conftest import REPO, positive_finite, real_data_root

pytestmark = pytest.mark.slow   # every test reads one rehearsal that starts processes


def _run(args, **env):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    """One CPU rehearsal shared by the tests below (tens of seconds: it starts processes)."""
    if real_data_root("MNIST") is None:
        pytest.skip("real MNIST not found: set REGSTUDY_DATA (the default run trains on it)")
    out = tmp_path_factory.mktemp("gpu_check")
    results = out.parent / "results_gpu.md"
    proc = _run(["bench.gpu_check", "--out", str(out), "--device", "cpu", "--quick",
                 "--results", str(results)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    found = {p.name: p for p in out.iterdir()}
    return out, results, {n[:-5]: json.loads(p.read_text()) for n, p in found.items()
                          if n.endswith(".json")}


def test_every_section_ran_and_wrote_its_files(rehearsal):
    out, results, data = rehearsal
    assert set(data) == {"check", "cuda_tests", "default_run", "fused", "loops"}
    assert data["check"]["errors"] == {}
    assert all(positive_finite(s) for s in data["check"]["section_seconds"].values())
    assert {f.name for f in out.iterdir()} == {"check.json", "cuda_tests.json", "pytest.log",
                                               "default_run.json", "fused.json", "loops.json",
                                               "gpu.md"}
    assert results.read_text() == (out / "gpu.md").read_text()


def test_cuda_tests_are_collected_and_skipped_without_cuda(rehearsal):
    _, _, data = rehearsal
    tests = data["cuda_tests"]["tests"]
    names = {t["name"].split("[")[0] for t in tests}
    assert {"test_amp_trains_and_learns",
            "test_fp16_overflow_is_skipped_by_the_scaler_and_the_run_still_learns",
            "test_channels_last_and_cudnn_benchmark_give_the_same_accuracy",
            "test_kill_and_resume_on_cuda_is_bit_identical", "test_divergence_on_cuda_is_recorded",
            "test_device_auto_picks_the_gpu"} <= names
    assert all(t["outcome"] == "skipped" and "CUDA" in t["message"] for t in tests)


def test_default_run_trained_and_learned(rehearsal):
    m = rehearsal[2]["default_run"]["metrics"]
    assert m["status"] == "completed" and m["device"] == "cpu"
    assert m["test_acc"] > 0.25, m["test_acc"]                 # 20 steps; chance is 0.10
    assert positive_finite(m["samples_per_s"]) and m["steps"] == 20


def test_loops_give_positive_rates_and_finite_losses(rehearsal):
    rows = rehearsal[2]["loops"]["rows"]
    assert {(r["amp"], r["channels_last"], r["loop"]) for r in rows} == \
        {(a, c, lp) for a in AMPS for c in (False, True) for lp in LOOPS}
    for r in rows:
        if r["amp"] != "none":                                   # the CPU refuses AMP, as regstudy does
            assert "needs CUDA" in r["skipped"]
            continue
        assert r["skipped"] is None and r["status"] == "completed", r
        assert positive_finite(r["steps_per_s"]) and math.isfinite(r["loss"]), r


def test_fused_rows_and_their_equivalence(rehearsal):
    f = rehearsal[2]["fused"]
    ways = {(r["copies"], r["way"]) for r in f["rows"]}
    assert ways == {(1, "alone"), (1, "fused"), (2, "fused"), (2, "processes")}
    for r in f["rows"]:
        assert positive_finite(r["per_model_steps_per_s"]) and positive_finite(r["vs_alone"]), r
        if r["way"] != "processes":  # separate processes start and end at different times
            assert r["model_steps_per_s"] == pytest.approx(
                r["copies"] * r["per_model_steps_per_s"], rel=1e-9)
    eq = f["equivalence"]
    assert eq["copies"] == 2 and max(v for k, v in eq.items() if k.startswith("max_rel")) < 1e-4


def test_report_has_every_section_with_numbers(rehearsal):
    out, _, _ = rehearsal
    md = (out / "gpu.md").read_text()
    for title in ("## 1. CUDA tests", "## 2. The default experiment", "## 3. Training loops",
                  "## 4. Several LeNet5s at once"):
        assert title in md
    assert "Not run" not in md and "results/default_runs.md" in md


def test_vectorized_copies_match_separate_models():
    """Losses, gradients and SGD-with-momentum updates of 3 stacked copies equal those of 3
    models trained alone from the same initializations (float32 rounding apart)."""
    torch.manual_seed(0)
    res = check_equivalence(3, torch.device("cpu"), steps=3, batch=8)
    assert res["max_rel_diff_loss"] < 1e-5
    assert res["max_rel_diff_grad"] < 1e-4
    assert res["max_rel_diff_param"] < 1e-5


def test_stacked_copies_keep_each_copy_apart():
    """Copy i sees only its own weights and batch: swapping the batches swaps the losses."""
    stack = StackedCopies(lenet_copies(2, torch.device("cpu"), seed=3))
    x, y = torch.randn(2, 8, 1, 28, 28), torch.randint(0, 10, (2, 8))
    a = stack.losses(x, y).detach()
    b = stack.losses(x.flip(0), y.flip(0)).detach()
    assert not torch.allclose(a[0], a[1])                       # different initializations
    models = lenet_copies(2, torch.device("cpu"), seed=3)
    alone = torch.stack([torch.nn.functional.cross_entropy(models[i](x[1 - i]), y[1 - i])
                         for i in range(2)]).detach()
    assert torch.allclose(b, alone, rtol=1e-5, atol=1e-6)


def test_gpu_sizes_compose_for_every_model():
    for model in MODELS:
        cfg = config_for(model, "bf16", True, "regstudy_nodiag", 128, "cuda")
        assert cfg.model.name == model and cfg.trainer.amp == "bf16" and not cfg.diag.enabled


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where CUDA is absent")
def test_cuda_check_without_cuda_is_one_clear_line(tmp_path, capsys):
    from bench.gpu_check import main

    assert main(["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--device cpu --quick" in err
    assert not (tmp_path / "out").exists()


def test_report_of_a_folder_without_check_json_is_refused(tmp_path, capsys):
    from bench.gpu_report import main

    assert main([str(tmp_path)]) == 2
    assert "no check.json" in capsys.readouterr().err


def test_report_of_a_gpu_run_compares_with_the_cpu_and_the_minimal_loop(tmp_path):
    """The parts only a real (not --quick) CUDA run shows: the verdict against the CPU's seeds,
    AMP rows and the regstudy / minimal ratio."""
    from bench.gpu_report import cpu_reference, render

    ref = cpu_reference()
    assert {"test_acc", "samples_per_s", "seed_mean", "seed_std"} <= set(ref)
    files = {
        "check": {"device": "cuda", "device_name": "GPU", "cuda": "13.0", "quick": False,
                  "section_seconds": {"loops": 1.0}, "errors": {}},
        "default_run": {"device": "cuda:0", "quick": False, "command": "regstudy train",
                        "metrics": {"status": "completed", "epochs_run": 10, "best_epoch": 8,
                                    "test_acc": ref["seed_mean"] + ref["seed_std"],
                                    "samples_per_s": 4 * ref["samples_per_s"]}},
        "loops": {"settings": {"batch": 128, "steps": 60, "warmup": 15, "reps": 3},
                  "rows": [{"model": "vgg38", "amp": "bf16", "channels_last": True, "loop": lp,
                            "steps_per_s": rate, "skipped": None}
                           for lp, rate in (("minimal", 200.0), ("regstudy", 150.0),
                                            ("regstudy_nodiag", 190.0))]},
    }
    for name, data in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    md = render(tmp_path)
    assert "+1.0 std, within seed noise" in md and "4.0x the CPU's" in md
    assert "| vgg38 | bf16 | yes | 200.0 | 150.0 | 190.0 | 0.75 | 0.95 |" in md
    assert "Not run: fused.json not written" in md


def test_variants_past_the_time_limit_are_listed_as_skipped(tmp_path):
    import time

    from bench.gpu_loops import LoopSettings, run_loops

    rows = run_loops(torch.device("cpu"), LoopSettings(batch=2, steps=1, warmup=1, reps=1),
                     tmp_path, models=("lenet5",), deadline=time.monotonic() - 1)["rows"]
    assert len(rows) == len(AMPS) * 2 * len(LOOPS)
    assert all(r["skipped"] == "past --time-limit" for r in rows)
