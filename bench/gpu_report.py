"""Render the GPU check's JSON files into one markdown report (results/gpu.md).

    python -m bench.gpu_report DIR [--md FILE]     # DIR: the folder `bench.gpu_check --out` wrote

Every number comes from the JSON files in DIR; the CPU reference of the default experiment is
read from results/default_runs.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from .gpu_loops import AMPS, LOOPS, MODELS

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("cuda_tests", "default_run", "fused", "loops")


def load(out_dir: Path) -> Dict[str, Any]:
    """check.json and each section's JSON that exists."""
    found = {}
    for name in ("check", *SECTIONS):
        path = Path(out_dir) / f"{name}.json"
        if path.is_file():
            found[name] = json.loads(path.read_text())
    return found


def _fmt(x: Optional[float], spec: str = ",.1f") -> str:
    return "—" if x is None else format(x, spec)


def _table(header: List[str], rows: List[List[str]]) -> List[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(r) + " |" for r in rows)]


def cpu_reference(path: Path = REPO / "results" / "default_runs.md") -> Dict[str, float]:
    """The CPU's figures for `regstudy train` on MNIST: the single run's test accuracy and
    samples/s, and the three seeds' mean and std of test accuracy (empty if not found)."""
    if not path.is_file():
        return {}
    text, ref = path.read_text(), {}
    single = re.search(r"^\| `regstudy train` \(MNIST\) \| \*\*([\d.]+)%\*\* \| (\d+) \| [\d.]+% \| "
                       r"([\d.]+) s \| ([\d.]+) s \| ([\d,]+) \|$", text, re.M)
    if single:
        ref.update(test_acc=float(single.group(1)) / 100, best_epoch=int(single.group(2)),
                   wall_time_s=float(single.group(3)), process_seconds=float(single.group(4)),
                   samples_per_s=float(single.group(5).replace(",", "")))
    seeds = re.search(r"^\| mnist\s*\| (\d+)\s*\| ([\d.]+) ± ([\d.]+)", text, re.M)
    if seeds:
        ref.update(n_seeds=int(seeds.group(1)), seed_mean=float(seeds.group(2)) / 100,
                   seed_std=float(seeds.group(3)) / 100)
    return ref


def _header(check: Dict[str, Any]) -> List[str]:
    lines = [f"# GPU check on {check.get('device_name', '?')}", "",
             f"`{check.get('command', 'python -m bench.gpu_check')}` on {check.get('date', '?')}; "
             f"torch {check.get('torch', '?')}, "
             f"{'CUDA ' + str(check.get('cuda')) if check.get('device') == 'cuda' else 'no GPU'}"
             f"{' (--quick: tiny sizes, a rehearsal, not a measurement)' if check.get('quick') else ''}."]
    props = check.get("device_properties")
    if props:
        lines += ["", f"{props['name']}: {props['total_memory_gib']} GiB, {props['multiprocessors']} "
                      f"multiprocessors, compute capability {props['capability']}."]
    secs = check.get("section_seconds", {})
    if secs:
        lines += ["", "Seconds per section: " + ", ".join(f"{k} {v:.0f}" for k, v in secs.items())
                  + f"; total {sum(secs.values()):.0f}."]
    return lines


def _tests(res: Dict[str, Any]) -> List[str]:
    lines = ["", "## 1. CUDA tests (`pytest -m cuda tests/test_cuda.py`)", ""]
    if "error" in res:
        return lines + [f"Not run: {res['error']}"]
    c = res.get("counts", {})
    lines.append(", ".join(f"{v} {k}" for k, v in c.items() if v) + f" in {res.get('seconds', 0):.0f} s.")
    rows = [[f"`{t['name']}`", t["outcome"], _fmt(t.get("seconds"), ".1f"),
             (t.get("message") or "").replace("|", "/")[:120]] for t in res.get("tests", [])]
    return lines + [""] + _table(["test", "outcome", "s", "message"], rows)


def _default(res: Dict[str, Any]) -> List[str]:
    lines = ["", "## 2. The default experiment (`regstudy train`: LeNet5, MNIST)", ""]
    if "error" in res:
        return lines + [f"Not run: {res['error']}"]
    m, ref = res.get("metrics", {}), cpu_reference()
    acc, sps = m.get("test_acc"), m.get("samples_per_s")
    rows = [[res.get("device", "?"), f"{m.get('epochs_run', '?')}", _fmt(acc and 100 * acc, ".2f"),
             str(m.get("best_epoch", "—")), _fmt(sps, ",.0f"), _fmt(m.get("train_seconds"), ".1f"),
             _fmt(m.get("wall_time_s"), ".1f"), _fmt(res.get("process_seconds"), ".1f")]]
    if ref:
        rows.append(["CPU, 2 cores (results/default_runs.md)", "10",
                     _fmt(ref.get("test_acc") and 100 * ref["test_acc"], ".2f"),
                     str(ref.get("best_epoch", "—")), _fmt(ref.get("samples_per_s"), ",.0f"), "—",
                     _fmt(ref.get("wall_time_s"), ".1f"), _fmt(ref.get("process_seconds"), ".1f")])
    lines += _table(["device", "epochs", "test acc %", "best epoch", "samples/s", "train s",
                     "run wall s", "process s"], rows)
    lines += ["", f"Status: {m.get('status', '?')}; `{res.get('command', '')}`."]
    if acc is not None and ref.get("seed_std") and not res.get("quick"):
        dev = (acc - ref["seed_mean"]) / ref["seed_std"]
        lines.append(f"Against the CPU's {ref['n_seeds']} seeds ({100 * ref['seed_mean']:.2f} ± "
                     f"{100 * ref['seed_std']:.2f}%): {dev:+.1f} std, "
                     f"{'within' if abs(dev) <= 3 else 'OUTSIDE'} seed noise (3 std); "
                     f"samples/s {sps / ref['samples_per_s']:.1f}x the CPU's.")
    return lines


def _loops(res: Dict[str, Any]) -> List[str]:
    lines = ["", "## 3. Training loops: steps/s on CIFAR-shaped random data", ""]
    if "error" in res:
        return lines + [f"Not run: {res['error']}"]
    s = res["settings"]
    lines.append(f"Batch {s['batch']}, {s['steps']} timed steps after {s['warmup']} warm-up, "
                 f"median of {s['reps']}; SGD (lr 0.05, momentum 0.9); cudnn.benchmark on CUDA. "
                 "regstudy = `Loop` with the run's default observers; nodiag = diag and z² off.")
    by = {(r["model"], r["amp"], r["channels_last"], r["loop"]): r for r in res["rows"]}
    rows = []
    for model in MODELS:
        for amp in AMPS:
            for cl in (False, True):
                cells = [by.get((model, amp, cl, loop), {}) for loop in LOOPS]
                if not any(cells):
                    continue
                rate = [c.get("steps_per_s") for c in cells]
                why = next((c["skipped"] for c in cells if c.get("skipped")), "")
                ratio = [_fmt(r / rate[0], ".2f") if r and rate[0] else "—" for r in rate[1:]]
                rows.append([model, amp, "yes" if cl else "no", *[_fmt(r, ",.1f") for r in rate],
                             *ratio, why])
    return lines + [""] + _table(["model", "AMP", "channels_last", "minimal", "regstudy",
                                  "regstudy nodiag", "regstudy / minimal", "nodiag / minimal",
                                  "note"], rows)


def _fused(res: Dict[str, Any]) -> List[str]:
    lines = ["", "## 4. Several LeNet5s at once: vectorized (vmap) vs separate processes", ""]
    if "error" in res:
        return lines + [f"Not run: {res['error']}"]
    s, eq = res["settings"], res["equivalence"]
    lines.append(f"MNIST-shaped random data, batch {s['batch']} per model, {s['steps']} timed steps "
                 f"after {s['warmup']} warm-up. Vectorized copies vs separate models from the same "
                 f"initializations ({eq['copies']} copies, {eq['steps']} SGD steps, no TF32): largest "
                 f"relative difference of losses {eq['max_rel_diff_loss']:.1e}, gradients "
                 f"{eq['max_rel_diff_grad']:.1e}, parameters {eq['max_rel_diff_param']:.1e}.")
    rows = [[str(r["copies"]), r["way"], _fmt(r.get("per_model_steps_per_s"), ",.1f"),
             _fmt(r.get("model_steps_per_s"), ",.1f"), _fmt(r.get("vs_alone"), ".2f"),
             r.get("skipped", "")] for r in res["rows"]]
    return lines + [""] + _table(["S", "how", "per-model steps/s", "model-steps/s (all S)",
                                  "vs one alone", "note"], rows)


def render(out_dir: Path) -> str:
    """The whole report from DIR's JSON files; a section whose file is missing says so."""
    found = load(out_dir)
    lines = _header(found.get("check", {}))
    for name, fn in (("cuda_tests", _tests), ("default_run", _default), ("loops", _loops),
                     ("fused", _fused)):
        lines += fn(found.get(name, {"error": f"{name}.json not written"}))
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gpu_report", description=__doc__.split("\n")[0])
    ap.add_argument("dir", type=Path, help="folder written by python -m bench.gpu_check --out")
    ap.add_argument("--md", type=Path, help="write here (default: print)")
    args = ap.parse_args(argv)
    if not (args.dir / "check.json").is_file():
        print(f"gpu_report: error: {args.dir} has no check.json; pass the --out folder of "
              "python -m bench.gpu_check", file=sys.stderr)
        return 2
    text = render(args.dir)
    if args.md:
        args.md.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
