"""What PSP costs per training step: the step without it and with it, timed interleaved.

The step is the training loop's own (`Loop.step` in training/loop.py): record the activation
sites when someone needs them, forward, cross-entropy, regularizer penalties, backward,
observers, SGD update. Four settings per model:
  plain     no sites recorded, no observer (the cheapest possible step);
  zsq       the <z^2> statistics every run has by default (trainer.zsq_every_n_steps=1);
  psp       PSP (strength 1e-3, layer_mean, logits included) without the statistics;
  psp+zsq   PSP with the statistics: a reg=psp run as `regstudy train` runs it.
The bound (at most 15% slower) is on psp / plain (and psp+zsq / zsq: both runs carry the statistics).
Each repetition times every setting in a rotating order, for as many steps as fill about
`--window` seconds (from the warm-up's step time), so a burst of load on a shared machine hits
every setting alike; the report gives medians over repetitions and the median of the
per-repetition ratios, in CPU time and on the wall clock. Inputs are random tensors of the
dataset's shape (the cost of a step does not depend on the pixel values).

    python -m bench.psp_overhead --threads 1 --reps 12 --out results/psp_overhead.md
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from types import SimpleNamespace
from typing import Callable, Dict, Tuple

import pandas as pd
import torch

from regstudy.config.compose import compose
from regstudy.config.validate import check
from regstudy.data.specs import get_spec
from regstudy.diagnostics.zsq import ZSquared
from regstudy.models import build_model
from regstudy.regularizers import build_regularizers
from regstudy.training.loop import Loop
from regstudy.training.run import arch_options
from regstudy.training.runtime import tune_malloc

SETTINGS = ("plain", "zsq", "psp", "psp+zsq")


def make_step(model_name: str, dataset: str, setting: str, batch: int,
              seed: int) -> Callable[[], None]:
    """The training loop's own step (`Loop.step`) for `setting`, on a model built as
    `regstudy train` builds it."""
    reg = "psp" if setting.startswith("psp") else "none"
    cfg = compose([f"model={model_name}", f"dataset={dataset}", f"reg={reg}",
                   "trainer.device=cpu"])
    check(cfg)
    spec = get_spec(cfg.dataset.name)
    regularizers = build_regularizers(cfg.reg)
    torch.manual_seed(seed)
    model = build_model(cfg.model, spec.channels, spec.num_classes, spec.image_size,
                        arch_options(cfg.model, regularizers))
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    observers = [ZSquared(model, 1)] if setting.endswith("zsq") else []
    # Loop.step reads no data bundle; the loop only needs the epoch length for its progress bar
    loop = Loop(cfg, model, SimpleNamespace(train=range(batch)), optimizer, None, regularizers,
                observers, torch.device("cpu"))
    x = torch.randn(batch, spec.channels, spec.image_size, spec.image_size)
    y = torch.randint(0, spec.num_classes, (batch,))

    def step() -> None:
        loop.step(x, y)

    return step


def time_steps(step: Callable[[], None], n: int) -> Dict[str, float]:
    """Seconds per step on the wall clock and in this process's CPU time.

    With one torch thread the CPU time leaves out the time the scheduler gave to the other
    processes of a shared machine, so it is the steadier of the two there.
    """
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    return {"wall": (time.perf_counter() - w0) / n, "cpu": (time.process_time() - c0) / n}


RATIOS = (("psp", "plain"), ("psp+zsq", "zsq"), ("zsq", "plain"))


def measure(model_name: str, dataset: str, args) -> Tuple[pd.DataFrame, int]:
    """One row per repetition, setting and clock (seconds per step); the steps timed per cell."""
    steps = {s: make_step(model_name, dataset, s, args.batch_size, args.seed) for s in SETTINGS}
    warm = {s: time_steps(step, args.warmup) for s, step in steps.items()}  # allocator, caches
    n = max(1, math.ceil(args.window / warm["plain"]["wall"]))
    rows = []
    for rep in range(args.reps):
        order = SETTINGS[rep % len(SETTINGS):] + SETTINGS[:rep % len(SETTINGS)]
        for s in order:
            for clock, sec in time_steps(steps[s], n).items():
                rows.append({"rep": rep, "setting": s, "clock": clock, "s": sec})
    return pd.DataFrame(rows), n


def summary(times: pd.DataFrame) -> Tuple[pd.DataFrame, str]:
    """Median ms/step per setting and clock, and the median of per-repetition ratios."""
    med = times.groupby(["setting", "clock"])["s"].median().unstack("clock")
    table = pd.DataFrame({
        "setting": list(SETTINGS),
        "median CPU ms/step": [1e3 * med.loc[s, "cpu"] for s in SETTINGS],
        "vs plain (CPU)": [f"x{med.loc[s, 'cpu'] / med.loc['plain', 'cpu']:.3f}" for s in SETTINGS],
        "median wall ms/step": [1e3 * med.loc[s, "wall"] for s in SETTINGS],
        "vs plain (wall)": [f"x{med.loc[s, 'wall'] / med.loc['plain', 'wall']:.3f}"
                            for s in SETTINGS]})
    wide = times.pivot_table(index=["rep", "clock"], columns="setting", values="s")
    parts = []
    for clock in ("cpu", "wall"):
        w = wide.xs(clock, level="clock")
        parts.append(f"{clock}: " + ", ".join(f"{a} / {b} x{(w[a] / w[b]).median():.3f}"
                                              for a, b in RATIOS))
    return table, "; ".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["lenet5_caffe:mnist", "vgg38:cifar100"],
                    help="MODEL:DATASET pairs (config group options)")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--reps", type=int, default=15, help="interleaved repetitions")
    ap.add_argument("--window", type=float, default=1.0,
                    help="seconds of steps per setting per repetition (at least one step)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="", help="also write the report (Markdown) here")
    args = ap.parse_args()
    tune_malloc()   # as train_run does: large activations reuse the heap instead of mmap
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    blocks = []
    for pair in args.models:
        model_name, dataset = pair.split(":")
        times, n = measure(model_name, dataset, args)
        table, ratios = summary(times)
        blocks.append(f"### {model_name} on {dataset}, batch {args.batch_size}, {n} steps per "
                      f"setting per repetition\n\n"
                      + table.to_markdown(index=False, floatfmt=".1f")
                      + f"\n\nmedian of per-repetition ratios: {ratios}\n")
        print(blocks[-1], flush=True)
    load_after = os.getloadavg()
    header = (f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} "
              f"threads; {args.reps} interleaved repetitions per model (after {args.warmup} "
              f"warm-up steps per setting).\nLoad average (1/5/15 min) before "
              f"{tuple(round(v, 2) for v in load_before)}, after "
              f"{tuple(round(v, 2) for v in load_after)}: the machine is shared.\n")
    report = header + "\n" + "\n".join(blocks)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(report)
    print(header)


if __name__ == "__main__":
    main()
