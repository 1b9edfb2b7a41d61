"""Verify regstudy's CUDA paths and measure its GPU speed in one command.

    python -m bench.gpu_check --out DIR [--device cuda|cpu] [--quick] [--results FILE]

Sections, in this order (each writes its JSON into DIR, then DIR/gpu.md is rendered again):
  1. cuda_tests   `pytest -m cuda tests/test_cuda.py`: AMP bf16/fp16, fp16 overflow, channels_last
                  and cudnn.benchmark, CUDA kill-and-resume, divergence, trainer.device=auto
  2. default_run  `regstudy train` with its defaults (LeNet5, MNIST, 10 epochs) on the device
  3. fused        S LeNet5s at once: vmapped as one model vs S processes vs one alone
  4. loops        steps/s of LeNet5, VGG_38, ResNet-18: regstudy's loop vs bench.speed's minimal
                  loop, with/without bf16 AMP and channels_last
DIR gets check.json, cuda_tests.json, pytest.log, default_run.json, fused.json, loops.json and
gpu.md. `--device cpu --quick` is the CPU rehearsal tests/test_gpu_check.py runs.

On a CUDA machine where regstudy is installed, run it as above. On one without network access
(or without Hydra), bench/gpu_check.sh installs wheels brought along in .whl/ and unpacks MNIST
brought along in .mnist_gz/ first; README's "GPU check" says how to prepare both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("cuda_tests", "default_run", "fused", "loops")


@dataclass
class Sizes:
    """How much each section does: the real check, or the CPU rehearsal (--quick)."""

    default_overrides: List[str] = field(default_factory=list)
    loop_models: tuple = ("lenet5", "vgg38", "resnet18")
    loop: Dict[str, int] = field(default_factory=lambda: dict(batch=128, steps=60, warmup=15,
                                                               reps=3))
    fused: Dict[str, Any] = field(default_factory=lambda: dict(copies=(1, 4, 16), steps=200,
                                                                warmup=20, batch=100))
    test_timeout: float = 240.0
    train_timeout: float = 180.0


QUICK = Sizes(
    default_overrides=["dataset.subset=500", "dataset.val_size=200", "dataset.test_subset=200",
                       "trainer.epochs=1", "trainer.batch_size=25", "trainer.eval_batch_size=200"],
    loop_models=("lenet5",),
    loop=dict(batch=4, steps=2, warmup=1, reps=1),
    fused=dict(copies=(1, 2), steps=3, warmup=1, batch=16),
)


def _xdist_args(device: str) -> List[str]:
    """Spread the CUDA tests (each mostly a CLI start-up) over 4 workers when xdist is there."""
    import importlib.util

    return ["-n", "4"] if device == "cuda" and importlib.util.find_spec("xdist") else []


def _junit(path: Path) -> List[Dict[str, Any]]:
    """Each test case's name, outcome, seconds and first message line from pytest's JUnit XML."""
    tests = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = (node.get("message") or "").splitlines()[0] if node.get("message") else ""
                break
        tests.append({"name": case.get("name"), "outcome": outcome,
                      "seconds": float(case.get("time") or 0), "message": message})
    return tests


def _text(data) -> str:
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def section_tests(out: Path, work: Path, device: str, sizes: Sizes) -> Dict[str, Any]:
    xml = work / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "tests/test_cuda.py", "-q",
           "-p", "no:cacheprovider", f"--junitxml={xml}", *_xdist_args(device)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                              timeout=sizes.test_timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:   # keep what it printed: that is the diagnosis
        (out / "pytest.log").write_text(_text(err.stdout) + _text(err.stderr))
        raise RuntimeError(f"pytest ran past {sizes.test_timeout:.0f} s; see pytest.log") from err
    seconds = time.perf_counter() - t0
    (out / "pytest.log").write_text(proc.stdout + proc.stderr)
    if not xml.is_file():
        raise RuntimeError(f"pytest wrote no report (exit {proc.returncode}); see pytest.log")
    tests = _junit(xml)
    counts = {k: sum(t["outcome"] == k for t in tests)
              for k in ("passed", "failed", "error", "skipped")}
    return {"command": " ".join(cmd[1:]), "returncode": proc.returncode, "seconds": seconds,
            "counts": counts, "tests": tests}


def section_default(out: Path, work: Path, device: str, sizes: Sizes) -> Dict[str, Any]:
    run_dir = work / "default_mnist"
    args = ["train", f"trainer.device={device}", "trainer.progress=lines",
            *sizes.default_overrides, f"hydra.run.dir={run_dir}"]
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "regstudy.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=sizes.train_timeout,
                          stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"regstudy train exited {proc.returncode}: {proc.stderr[-1500:]}")
    m = json.loads((run_dir / "metrics.json").read_text())
    keep = ("status", "device", "epochs_run", "steps", "test_acc", "test_error", "last_test_acc",
            "best_epoch", "best_val_acc", "final_train_loss", "samples_per_s", "train_seconds",
            "wall_time_s", "num_params", "train_size", "torch_version")
    history = [{k: r.get(k) for k in ("epoch", "train_loss", "train_acc", "val_acc",
                                        "epoch_seconds")} for r in m.get("history", [])]
    return {"command": "regstudy " + " ".join(args[:-1]), "device": m.get("device"),
            "quick": bool(sizes.default_overrides), "process_seconds": seconds,
            "metrics": {k: m.get(k) for k in keep}, "history": history}


def section_fused(out: Path, work: Path, device: str, sizes: Sizes,
                  deadline: Optional[float] = None) -> Dict[str, Any]:
    import torch

    from .fused import run_fused

    f = sizes.fused
    return run_fused(torch.device(device), f["copies"], f["steps"], f["warmup"], f["batch"],
                     deadline=deadline)


def section_loops(out: Path, work: Path, device: str, sizes: Sizes,
                  deadline: Optional[float] = None) -> Dict[str, Any]:
    import torch

    from .gpu_loops import LoopSettings, run_loops

    return run_loops(torch.device(device), LoopSettings(**sizes.loop), work,
                     models=sizes.loop_models, deadline=deadline)


def _meta(args: argparse.Namespace) -> Dict[str, Any]:
    import torch

    from .gpu_common import device_name, device_properties

    return {"command": "python -m bench.gpu_check " + " ".join(sys.argv[1:]),
            "device_properties": device_properties(torch.device(args.device)),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick,
            "device": args.device, "device_name": device_name(torch.device(args.device)),
            "torch": torch.__version__, "cuda": torch.version.cuda, "section_seconds": {},
            "errors": {}}


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


def run_check(args: argparse.Namespace) -> int:
    """Every chosen section in turn; one failing section is recorded and the rest still run."""
    from .gpu_report import render

    out, sizes = args.out, QUICK if args.quick else Sizes()
    work = Path(tempfile.mkdtemp(prefix="gpu_check-"))
    deadline = time.monotonic() + args.time_limit if args.time_limit else None
    meta = _meta(args)
    steps: Dict[str, Callable[[], Dict[str, Any]]] = {
        "cuda_tests": lambda: section_tests(out, work, args.device, sizes),
        "default_run": lambda: section_default(out, work, args.device, sizes),
        "fused": lambda: section_fused(out, work, args.device, sizes, deadline),
        "loops": lambda: section_loops(out, work, args.device, sizes, deadline),
    }
    for name in (s for s in SECTIONS if s in args.sections):
        print(f"gpu_check: {name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            result = steps[name]()
        except Exception as err:  # recorded; the next section still runs
            result = {"error": f"{type(err).__name__}: {str(err)[-1500:]}"}
            meta["errors"][name] = result["error"]
        meta["section_seconds"][name] = round(time.perf_counter() - t0, 1)
        _write(out / f"{name}.json", result)
        _write(out / "check.json", meta)
        try:
            (out / "gpu.md").write_text(render(out))
        except Exception as err:  # the JSON files are what matter; `bench.gpu_report` re-renders
            meta["errors"]["report"] = f"{type(err).__name__}: {err}"
            (out / "gpu.md").write_text(f"# GPU check\n\nRendering failed: {err}\n")
            _write(out / "check.json", meta)
        print(f"gpu_check: {name} done in {meta['section_seconds'][name]:.0f} s"
              f"{' (ERROR: ' + result['error'][:300] + ')' if 'error' in result else ''}", flush=True)
    shutil.rmtree(work, ignore_errors=True)   # run directories, TensorBoard files, JUnit XML
    report = (out / "gpu.md").read_text()
    if args.results:
        args.results.write_text(report)
    print(report)
    tests = json.loads((out / "cuda_tests.json").read_text()) if (out / "cuda_tests.json").is_file() else {}
    failed = sum(tests.get("counts", {}).get(k, 0) for k in ("failed", "error"))
    return 1 if meta["errors"] or failed else 0


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.gpu_check",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the JSON files and gpu.md")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: the CPU rehearsal")
    ap.add_argument("--results", type=Path, help="also write the report here (results/gpu.md)")
    ap.add_argument("--sections", type=lambda s: s.split(","), default=list(SECTIONS),
                    help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                    help="skip the fused and loops variants not yet begun this many seconds "
                         "after the start (default: run them all)")
    args = ap.parse_args(argv)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        ap.error(f"--sections: {unknown} not among {list(SECTIONS)}")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: error: --device cuda but CUDA is not available here; use --device cpu "
              "--quick for the CPU rehearsal", file=sys.stderr)
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"gpu_check: error: --out {args.out}: {err.strerror}", file=sys.stderr)
        return 2
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before any cuBLAS handle
    return run_check(args)


if __name__ == "__main__":
    sys.exit(main())
