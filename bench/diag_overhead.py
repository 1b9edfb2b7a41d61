"""What the training diagnostics cost: gradient flow + activation statistics off, at the
default interval (last batch of each epoch) and at every step, on LeNet5 / MNIST.

Each repetition runs the three settings through `train_run` (what `regstudy train` runs) in a
rotating order, so a burst of load on a shared machine hits every setting alike; the report
gives medians of:
  * the CPU time spent inside the diagnostics' own hooks (a wrapper around each observer):
    their direct cost, untouched by the load of other processes;
  * the CPU seconds of this process over the whole run (all threads: training, validation,
    the diagnostics' summaries, histograms and figures, the TensorBoard writer). With one
    torch thread this is the work done, far less disturbed by a busy machine than wall time;
  * the run's own wall clock (`wall_time_s`: model built to record finished) and the
    training loop's wall clock (`train_seconds`).

    REGSTUDY_DATA=../shared/datasets python -m bench.diag_overhead --reps 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import pandas as pd
import torch

from regstudy.config.compose import compose
from regstudy.diagnostics.zsq import ZSquared
from regstudy.observer import Observer
from regstudy.training.run import train_run

SETTINGS: Dict[str, List[str]] = {
    "off": ["diag.enabled=false"],
    "default (last batch of each epoch)": [],
    "every step": ["diag.every_n_steps=1"],
}


class TimedObserver(Observer):
    """Forwards every hook to the observer it wraps, adding the calling thread's CPU time to a
    clock: the diagnostics' own cost, untouched by whatever else the machine is doing."""

    clock = 0.0

    def __init__(self, inner: Observer) -> None:
        self.inner = inner

    def _timed(self, name: str, *args):
        start = time.thread_time()
        try:
            return getattr(self.inner, name)(*args)
        finally:
            TimedObserver.clock += time.thread_time() - start

    def wants_sites(self, step):
        return self._timed("wants_sites", step)

    def after_backward(self, step, model, rec):
        return self._timed("after_backward", step, model, rec)

    def wants_eval_sites(self, split):
        return self._timed("wants_eval_sites", split)

    def on_eval(self, split, model, rec):
        return self._timed("on_eval", split, model, rec)

    def epoch_summary(self, epoch, step):
        return self._timed("epoch_summary", epoch, step)

    def on_epoch_end(self, row):
        return self._timed("on_epoch_end", row)

    def on_train_end(self, result):
        return self._timed("on_train_end", result)

    def state_dict(self):
        return self._timed("state_dict")

    def load_state_dict(self, state):
        return self._timed("load_state_dict", state)


def time_diagnostics(obs: Observer) -> Observer:
    """train_run's `wrap_observer`: time the observers `diag.*` builds, not the <z^2> statistics
    every run has."""
    return obs if isinstance(obs, ZSquared) else TimedObserver(obs)


def one_run(overrides: List[str], workdir: Path) -> Dict[str, float]:
    cfg = compose(overrides)
    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    TimedObserver.clock = 0.0
    cpu0 = time.process_time()
    record = train_run(cfg, run_dir, overrides, wrap_observer=time_diagnostics)
    cpu = time.process_time() - cpu0
    assert record["status"] == "completed", record.get("error")
    return {"cpu_s": cpu, "hooks_s": TimedObserver.clock, "wall_s": record["wall_time_s"],
            "train_s": record["train_seconds"], "steps": record["steps"],
            "train_size": record["train_size"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--subset", type=int, default=20000,
                    help="training images (0: all but the 1,000 held out for validation)")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: least noise)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = [f"dataset.subset={args.subset}", "dataset.val_size=1000", "dataset.test_subset=1000",
            f"trainer.epochs={args.epochs}", f"trainer.batch_size={args.batch_size}",
            "trainer.log_every_n_steps=1000", "trainer.progress=lines", "trainer.device=cpu"]
    names = list(SETTINGS)
    runs: Dict[str, List[Dict[str, float]]] = {n: [] for n in names}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:   # untimed: first imports (matplotlib), allocator and cache warm-up
            one_run(base + SETTINGS[name] + ["trainer.max_steps=5"], Path(tmp))
        for rep in range(args.reps):
            order = names[rep % len(names):] + names[:rep % len(names)]   # rotate the order
            for name in order:
                runs[name].append(one_run(base + SETTINGS[name], Path(tmp)))
    load_after = os.getloadavg()

    metrics = {"cpu_s": "CPU s", "wall_s": "wall s", "train_s": "train-loop wall s"}
    off = {k: statistics.median(r[k] for r in runs["off"]) for k in metrics}
    rows = []
    for name in names:
        row = {"diagnostics": name}
        for key, label in metrics.items():
            median = statistics.median(r[key] for r in runs[name])
            row[f"median {label}"] = median
            row[f"{label} vs off"] = f"{100 * (median / off[key] - 1):+.1f}%"
        hooks = statistics.median(r["hooks_s"] for r in runs[name])
        row["median CPU s in diagnostics hooks"] = hooks
        row["hooks / off CPU"] = f"{100 * hooks / off['cpu_s']:.1f}%"
        row["CPU s per rep"] = " ".join(f"{r['cpu_s']:.2f}" for r in runs[name])
        rows.append(row)
    steps = runs["off"][0]["steps"]
    print(f"LeNet5 / MNIST, {runs['off'][0]['train_size']} training images, batch {args.batch_size}, "
          f"{args.epochs} epochs = {steps} steps, {args.reps} interleaved repetitions, "
          f"torch threads {args.threads}, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"load average (1/5/15 min) before {load_before}, after {load_after}, "
          f"cpus {os.cpu_count()}\n")
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
