"""How long `regstudy report` takes on 100 runs, and how big the page is for 50 and 100 runs.

Writes fake-but-valid run records (the format RunRecord writes: 20 epochs of history with
losses, accuracies, <z^2> and gradient flow over 12 layers; 4 arms x 25 seeds, a few runs
failed or diverged) into a temporary folder, runs the command as a user would (a subprocess),
and prints a Markdown summary (saved as results/report_speed.md).

    python -m bench.report_speed [--runs 100] [--repeats 3] [--out results/report_speed.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

ARMS = ("none", "l2", "dropout", "psp")
LAYERS = [f"features.{i}" for i in range(8)] + [f"classifier.{i}" for i in range(4)]


def history(rng: random.Random, scale: float, epochs: int) -> List[Dict]:
    rows = []
    for e in range(1, epochs + 1):
        rows.append({
            "epoch": e, "step": 550 * e, "lr": 0.1, "epoch_seconds": 20 + rng.random(),
            "train_loss": scale / e + 0.01 * rng.random(), "val_loss": scale / e + 0.02,
            "train_acc": 1 - 0.1 / e, "val_acc": 1 - 0.12 / e - 0.01 * rng.random(),
            "zsq/mean": 5 * scale * e * (1 + 0.1 * rng.random()), "zsq_val/mean": 5 * scale * e,
            "grad_flow": {"step": 550 * e,
                          "mean": {n: 10 ** -(2 + i / 4) * (1 + rng.random()) for i, n in
                                   enumerate(LAYERS)},
                          "max": {n: 10 ** -(1 + i / 4) for i, n in enumerate(LAYERS)}}})
    return rows


def write_runs(root: Path, n: int, epochs: int = 20, seed: int = 0) -> Path:
    rng = random.Random(seed)
    for i in range(n):
        arm, s = ARMS[i % len(ARMS)], i // len(ARMS)
        overrides = [f"reg={arm}", f"seed={s}", "model=lenet5", f"trainer.epochs={epochs}"]
        status = "failed" if i == n - 1 else "diverged" if i == n - 2 else "completed"
        hist = history(rng, 1 + ARMS.index(arm) / 10, epochs if status == "completed" else 3)
        record = {"status": status, "overrides": overrides, "seed": s, "history": hist,
                  "config": {"trainer": {"threads": 1}}, "regstudy_version": "0.1.0",
                  "torch_version": "2.x", "python_version": platform.python_version(),
                  "device": "cpu", "host": "bench", "wall_time_s": 400.0,
                  "epochs_run": len(hist), "best_epoch": len(hist), "best_val_acc": 0.99}
        if status == "completed":
            err = 0.007 - 0.0005 * ARMS.index(arm) + 0.0005 * rng.gauss(0, 1)
            record.update(test_error=err, test_acc=1 - err)
        elif status == "failed":
            record["error"] = "RuntimeError: out of memory"
        run = root / str(i)
        run.mkdir(parents=True)
        (run / "metrics.json").write_text(json.dumps(record))
    return root


def time_report(root: Path, out: Path, repeats: int) -> Tuple[List[float], List[float]]:
    """Wall and CPU (user + system) seconds of each repetition."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    wall, cpu = [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "regstudy.cli", "report", str(root), "--out",
                        str(out), "--baseline", "reg=none"], check=True, env=env,
                       capture_output=True)
        wall.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="also write the summary here")
    args = ap.parse_args()
    lines = ["# `regstudy report` speed and page size", "",
             f"`python -m bench.report_speed --runs {args.runs} --repeats {args.repeats}` on "
             f"{platform.node() or 'this machine'} ({os.cpu_count()} CPUs, load average "
             f"{os.getloadavg()[0]:.1f} at start), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             "Fake-but-valid records: 4 arms, 20 epochs each with losses, accuracies, <z²> and "
             "gradient flow over 12 layers; one failed and one diverged run. Wall time of the "
             "whole command as a subprocess (Python start-up, imports, reading, figures, "
             "writing).", "",
             "| runs | wall time, s (median) | min–max, s | CPU time, s (median) | page size |",
             "|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        for n in sorted({50, args.runs}):
            root = write_runs(Path(tmp) / f"runs{n}", n)
            page = Path(tmp) / f"report{n}.html"
            t, cpu = time_report(root, page, args.repeats)
            lines.append(f"| {n} | {statistics.median(t):.2f} | {min(t):.2f}–{max(t):.2f} | "
                         f"{statistics.median(cpu):.2f} | {page.stat().st_size / 1e6:.2f} MB |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
