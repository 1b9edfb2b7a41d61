"""TPE with median pruning against a grid over the same regularizer-strength range:
best validation error found vs epochs spent (issue 13's measurement).

For each regularizer (PSP, L2) it runs, on a stated psp_mnist subset:
  grid:   `regstudy train -m` over N log-spaced strengths (Hydra's basic sweeper);
  search: `regstudy train -m hydra/sweeper=optuna` (TPE, median pruner) over the log interval
          spanning the same range, with T trials;
then reads every metrics.json and writes, in trial/job order, the best validation error so far
against the cumulative epochs trained (pruned trials count the epochs they ran):
  results/<name>.md, results/<name>.json, results/<name>.png

    python scripts/search_vs_grid.py --out results --name search_vs_grid \\
        --subset 5000 --epochs 5 --grid-points 9 --trials 9
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

REGS = {"psp": "reg.psp.strength", "l2": "reg.l2.strength"}


def base_overrides(args: argparse.Namespace) -> List[str]:
    return ["experiment=psp_mnist", f"dataset.subset={args.subset}",
            f"dataset.val_size={args.val_size}", f"dataset.test_subset={args.val_size}",
            f"trainer.epochs={args.epochs}", "diag.enabled=false", "trainer.progress=lines",
            f"seed={args.seed}"]


def run(cmd: List[str], log: Path) -> None:
    print("$ regstudy " + " ".join(cmd), flush=True)
    with open(log, "w") as f:
        code = subprocess.call([sys.executable, "-m", "regstudy.cli", *cmd], stdout=f,
                               stderr=subprocess.STDOUT)
    if code != 0:
        sys.exit(f"failed ({code}); see {log}")


def grid_values(args: argparse.Namespace) -> List[str]:
    lo, hi, n = args.low_exp, args.high_exp, args.grid_points
    return [f"{10 ** (lo + i * (hi - lo) / (n - 1)):.3g}" for i in range(n)]


def commands(args: argparse.Namespace, reg: str, work: Path) -> Dict[str, List[str]]:
    key = REGS[reg]
    base = [*base_overrides(args), f"reg={reg}"]
    return {
        "grid": ["train", "-m", *base, f"{key}={','.join(grid_values(args))}",
                 f"hydra.sweep.dir={work / reg / 'grid'}"],
        "search": ["train", "-m", *base, "hydra/sweeper=optuna",
                   f"{key}=tag(log, interval({10 ** args.low_exp:g}, {10 ** args.high_exp:g}))",
                   f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.seed={args.seed}",
                   "hydra.sweeper.pruner=median",
                   f"+hydra.sweeper.pruner_options.n_startup_trials={args.startup}",
                   f"hydra.sweep.dir={work / reg / 'search'}"],
    }


def curve(sweep_dir: Path) -> List[Dict[str, float]]:
    """Runs in launch order (job / trial number): cumulative epochs and the best validation
    error so far among completed runs (pruned runs add their epochs, not a result)."""
    runs = sorted((int(p.parent.name), json.loads(p.read_text()))
                  for p in sweep_dir.glob("*/metrics.json") if p.parent.name.isdigit())
    out, epochs, best = [], 0, float("inf")
    for _, rec in runs:
        epochs += rec.get("epochs_run") or len(rec.get("history", []))
        if rec["status"] == "completed" and rec.get("best_val_acc") is not None:
            best = min(best, 1.0 - rec["best_val_acc"])
        out.append({"epochs": epochs, "best_val_error": best, "status": rec["status"]})
    return out


def figure(curves: Dict[str, Dict[str, list]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), squeeze=False)
    for ax, (reg, pair) in zip(axes[0], curves.items()):
        for label, pts in pair.items():
            xs = [p["epochs"] for p in pts if p["best_val_error"] != float("inf")]
            ys = [100 * p["best_val_error"] for p in pts if p["best_val_error"] != float("inf")]
            ax.step(xs, ys, where="post", marker="o", label=label)
        ax.set(title=reg, xlabel="epochs spent", ylabel="best validation error so far (%)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("results"))
    p.add_argument("--name", default="search_vs_grid")
    p.add_argument("--work", type=Path, default=Path("multirun/search_vs_grid"))
    p.add_argument("--regs", nargs="+", default=list(REGS), choices=list(REGS))
    p.add_argument("--subset", type=int, default=5000)
    p.add_argument("--val-size", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--grid-points", type=int, default=9)
    p.add_argument("--trials", type=int, default=9)
    p.add_argument("--startup", type=int, default=3)
    p.add_argument("--low-exp", type=float, default=-6.0)
    p.add_argument("--high-exp", type=float, default=-1.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    curves, cmds = {}, {}
    for reg in args.regs:
        cmds[reg] = commands(args, reg, args.work.absolute())
        for kind, cmd in cmds[reg].items():
            (args.work / reg).mkdir(parents=True, exist_ok=True)
            run(cmd, args.work / reg / f"{kind}.log")
        curves[reg] = {k: curve(args.work.absolute() / reg / k) for k in ("grid", "search")}
    (args.out / f"{args.name}.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "commands": cmds,
         "curves": curves}, indent=1, default=str))
    figure(curves, args.out / f"{args.name}.png")
    print(report(args, curves, cmds), file=open(args.out / f"{args.name}.md", "w"))


def report(args, curves, cmds) -> str:
    lines = [f"# TPE + median pruning vs grid ({args.name})", "",
             f"psp_mnist preset (LeNet5-caffe, SGD lr 0.1) on {args.subset} training / "
             f"{args.val_size} validation images, {args.epochs} epochs per run, seed {args.seed}; "
             f"strengths 1e{args.low_exp:g} .. 1e{args.high_exp:g}. Grid: {args.grid_points} "
             f"log-spaced values; search: {args.trials} TPE trials, median pruner "
             f"({args.startup} startup trials).", "",
             f"![curves]({args.name}.png)", "",
             "| reg | grid best val err (%) | grid epochs | search best val err (%) | "
             "search epochs | search epochs to reach grid best |", "|---|---|---|---|---|---|"]
    for reg, pair in curves.items():
        g, s = pair["grid"][-1], pair["search"][-1]
        reach = next((p["epochs"] for p in pair["search"]
                      if p["best_val_error"] <= g["best_val_error"]), None)
        lines.append(f"| {reg} | {100 * g['best_val_error']:.2f} | {g['epochs']} | "
                     f"{100 * s['best_val_error']:.2f} | {s['epochs']} | {reach or 'not reached'} |")
    lines += ["", "Commands (from the repository root):", "", "```",
              "python " + shlex.join(sys.argv), *("regstudy " + shlex.join(c)
                                                  for r in cmds.values() for c in r.values()),
              "```"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
