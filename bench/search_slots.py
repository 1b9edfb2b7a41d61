"""Slots against batches: the same Optuna search (PSP strength on psp_mnist, TPE with a fixed
sampler seed, median pruning, joblib with 2 jobs x 1 torch thread) run once with
`hydra.sweeper.schedule=batch` (k trials start and end together) and once with `slots` (a new
trial starts as soon as any ends), one after the other in one run of this script.

Measured per mode: wall time of the search command, CPU seconds of its processes (getrusage
of the children), the trials finished and how (completed / pruned), epochs trained, and slot
use = the trials' own wall time summed over k x the time from the first trial's start to the
last one's end (how much of that time the k slots held a trial). Writes results/<name>.md and
results/<name>.json:

    nice -n 15 python -m bench.search_slots --out results --name search_slots \\
        --trials 12 --subset 3000 --epochs 4
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Dict, List

MODES = ("batch", "slots")


def command(args: argparse.Namespace, mode: str, sweep_dir: Path) -> List[str]:
    return ["train", "-m", "experiment=psp_mnist", "hydra/sweeper=optuna",
            f"dataset.subset={args.subset}", f"dataset.val_size={args.val_size}",
            f"dataset.test_subset={args.val_size}", f"trainer.epochs={args.epochs}",
            "diag.enabled=false", "trainer.progress=lines", "trainer.zsq_every_n_steps=0",
            "reg.psp.strength=tag(log, interval(1e-6, 1e1))",
            f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.seed={args.sampler_seed}",
            "hydra.sweeper.pruner=median",
            f"+hydra.sweeper.pruner_options.n_startup_trials={args.prune_startup}",
            f"+hydra.sweeper.sampler_options.n_startup_trials={args.tpe_startup}",
            f"hydra.sweeper.schedule={mode}", "hydra/launcher=joblib",
            f"hydra.launcher.n_jobs={args.jobs}", f"hydra.sweep.dir={sweep_dir}"]


def run_mode(args: argparse.Namespace, mode: str, work: Path) -> Dict[str, object]:
    """One search; wall and CPU time of the command and what its trials did."""
    sweep_dir = work / mode
    cmd = command(args, mode, sweep_dir)
    print("$ regstudy " + shlex.join(cmd), flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(work / f"{mode}.log", "w") as log:
        code = subprocess.call([sys.executable, "-m", "regstudy.cli", *cmd], stdout=log,
                               stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        sys.exit(f"{mode} search failed ({code}); see {work / f'{mode}.log'}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"command": cmd, "wall_s": wall, "cpu_s": cpu, **trials(sweep_dir, wall, args.jobs)}


def trials(sweep_dir: Path, wall: float, jobs: int) -> Dict[str, object]:
    """Counts, epochs and slot use from search.json and the trials' metrics.json."""
    summary = json.loads((sweep_dir / "search.json").read_text())
    recs = [json.loads(p.read_text()) for p in sweep_dir.glob("*/metrics.json")
            if p.parent.name.isdigit()]
    busy = sum(r.get("wall_time_s") or 0.0 for r in recs)
    starts = [datetime.strptime(r["started_at"], "%Y-%m-%dT%H:%M:%S%z").timestamp()
              for r in recs]
    span = max(t + r["wall_time_s"] for t, r in zip(starts, recs)) - min(starts)
    return {"counts": summary["counts"], "finished": len(recs),
            "epochs": sum(r.get("epochs_run") or 0 for r in recs), "trials_span_s": span,
            "trial_seconds": busy, "slot_use": busy / (jobs * span),
            "best_value": (summary["best"] or {}).get("value")}


def report(args: argparse.Namespace, res: Dict[str, Dict[str, object]]) -> str:
    b, s = res["batch"], res["slots"]
    lines = [f"# Slots vs batches ({args.name})", "",
             f"The same search run twice, one after the other ({' first, then '.join(args.order)}"
             f"): PSP strength (log interval "
             f"1e-6..10) on psp_mnist (LeNet5-caffe, SGD lr 0.1), {args.subset} training / "
             f"{args.val_size} validation images, {args.epochs} epochs per trial, "
             f"{args.trials} trials, TPE with sampler seed {args.sampler_seed} "
             f"({args.tpe_startup} random start-up trials), median pruner "
             f"({args.prune_startup} start-up trials), joblib launcher with {args.jobs} jobs of "
             f"one torch thread each. Machine: {os.cpu_count()} CPUs, load average before the "
             f"run {args.load_before}.", "",
             "| mode | wall (s) | first trial start to last trial end (s) | CPU (s) | "
             "CPU use (CPU s / (wall x jobs)) | slot use | trials finished | "
             "completed / pruned / failed | epochs trained | best val acc |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for mode in MODES:
        r = res[mode]
        c = r["counts"]
        lines.append(f"| {mode} | {r['wall_s']:.1f} | {r['trials_span_s']:.0f} | "
                     f"{r['cpu_s']:.1f} | "
                     f"{r['cpu_s'] / (r['wall_s'] * args.jobs):.2f} | {r['slot_use']:.2f} | "
                     f"{r['finished']} | {c['complete']} / {c['pruned']} / "
                     f"{c['failed'] + c['diverged']} | {r['epochs']} | {r['best_value']} |")
    ratio = b["wall_s"] / s["wall_s"]
    lines += ["", f"Wall time, batch / slots: **{ratio:.2f}x** for {s['finished']} finished "
              f"trials each (goal: at least 1.2x).", "",
              "Slot use is the trials' own wall time (metrics.json `wall_time_s`) summed, over "
              "jobs x the time from the first trial's start to the last one's end: the share "
              "of that time the slots held a trial. Wall time is the whole command's (start-up, "
              "the sweep's table and report included). "
              "The sampler and the pruner see trials end in a different order in the two "
              "modes, so the sampled strengths (and which trials are pruned) can differ after "
              "the start-up trials.", "", "Command (from the repository root):", "", "```",
              "python -m bench.search_slots " + shlex.join(sys.argv[1:]),
              *("regstudy " + shlex.join(res[m]["command"]) for m in MODES), "```"]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("results"))
    p.add_argument("--name", default="search_slots")
    p.add_argument("--work", type=Path, default=Path("multirun/search_slots"))
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--subset", type=int, default=3000)
    p.add_argument("--val-size", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--sampler-seed", type=int, default=0)
    p.add_argument("--tpe-startup", type=int, default=4)
    p.add_argument("--prune-startup", type=int, default=2)
    p.add_argument("--order", nargs=2, choices=MODES, default=list(MODES),
                   help="which mode runs first (the machine's load may change in between)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    args.load_before = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    work = args.work.absolute()
    if work.exists() and any(work.iterdir()):
        sys.exit(f"{work} is not empty: a search there would continue its study")
    work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    res = {mode: run_mode(args, mode, work) for mode in args.order}
    (args.out / f"{args.name}.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "results": res}, indent=1))
    (args.out / f"{args.name}.md").write_text(report(args, res) + "\n")
    print((args.out / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
