"""TPE with median pruning against a grid over the same regularizer-strength range:
best validation error found vs epochs spent.

For each regularizer (PSP, L2) it runs, on a stated psp_mnist subset:
  grid:   `regstudy train -m` over N log-spaced strengths (Hydra's basic sweeper);
  search: `regstudy train -m hydra/sweeper=optuna` (TPE, median pruner) over the log interval
          spanning the same range, with T trials, once per sampler seed (one search is one draw);
  noise:  the grid's best strength again with K fresh training seeds, whose spread (sample std
          of the best validation error) is the "seed noise" the target allows;
then reads every metrics.json and writes, in trial/job order, the best validation error so far
against the cumulative epochs trained (pruned trials count the epochs they ran):
  results/<name>.md, results/<name>.json, results/<name>.png

    python -m bench.search_vs_grid --out results --name search_vs_grid \\
        --subset 5000 --epochs 5 --grid-points 9 --trials 9 --search-seeds 0 1 2 --noise-seeds 5
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from regstudy.report.runs import parse_overrides

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
    """The grid and one search per sampler seed (`search_s<k>`), same training seed."""
    key = REGS[reg]
    base = [*base_overrides(args), f"reg={reg}"]
    cmds = {"grid": ["train", "-m", *base, f"{key}={','.join(grid_values(args))}",
                     f"hydra.sweep.dir={work / reg / 'grid'}"]}
    for k in args.search_seeds:
        cmds[f"search_s{k}"] = [
            "train", "-m", *base, "hydra/sweeper=optuna",
            f"{key}=tag(log, interval({10 ** args.low_exp:g}, {10 ** args.high_exp:g}))",
            f"hydra.sweeper.n_trials={args.trials}", f"hydra.sweeper.seed={k}",
            "hydra.sweeper.pruner=median",
            f"+hydra.sweeper.pruner_options.n_startup_trials={args.startup}",
            f"hydra.sweep.dir={work / reg / f'search_s{k}'}"]
    return cmds


def noise_command(args: argparse.Namespace, reg: str, work: Path, strength: str) -> List[str]:
    """The grid's best strength under fresh training seeds (not the grid's own seed)."""
    seeds = ",".join(str(args.seed + 1 + i) for i in range(args.noise_seeds))
    base = [o for o in base_overrides(args) if not o.startswith("seed=")]
    return ["train", "-m", *base, f"reg={reg}", f"{REGS[reg]}={strength}", f"seed={seeds}",
            f"hydra.sweep.dir={work / reg / 'noise'}"]


def records(sweep_dir: Path) -> List[Dict]:
    """Each job's metrics.json, read once, in launch order (job / trial number)."""
    found = sorted((int(p.parent.name), p) for p in Path(sweep_dir).glob("*/metrics.json")
                   if p.parent.name.isdigit())
    return [json.loads(p.read_text()) for _, p in found]


def _completed_errors(recs: List[Dict]) -> List[tuple]:
    return [(1.0 - r["best_val_acc"], r) for r in recs
            if r["status"] == "completed" and r.get("best_val_acc") is not None]


def best_strength(sweep_dir: Path, key: str) -> str:
    """The strength of the grid run with the lowest best validation error (first on ties)."""
    best = min(_completed_errors(records(sweep_dir)), key=lambda t: t[0])[1]
    return parse_overrides(best["overrides"])[key]


def seed_noise(sweep_dir: Path) -> Optional[float]:
    """Sample std over training seeds of the best validation error; None under two runs."""
    errs = [e for e, _ in _completed_errors(records(sweep_dir))]
    return statistics.stdev(errs) if len(errs) >= 2 else None


def curve(sweep_dir: Path) -> List[Dict[str, float]]:
    """Runs in launch order (job / trial number): cumulative epochs and the best validation
    error so far among completed runs (pruned runs add their epochs, not a result)."""
    out, epochs, best = [], 0, float("inf")
    for rec in records(sweep_dir):
        epochs += rec.get("epochs_run") or len(rec.get("history", []))
        if rec["status"] == "completed" and rec.get("best_val_acc") is not None:
            best = min(best, 1.0 - rec["best_val_acc"])
        out.append({"epochs": epochs, "best_val_error": best, "status": rec["status"]})
    return out


def figure(results: Dict[str, Dict[str, object]], path: Path) -> None:
    """Best-so-far against epochs spent, grid and each search; shaded: grid best + seed noise."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 3.6), squeeze=False)
    for ax, (reg, res) in zip(axes[0], results.items()):
        best = 100 * res["curves"]["grid"][-1]["best_val_error"]
        ax.axhspan(best, best + 100 * (res["seed_noise"] or 0.0), color="0.85",
                   label="grid best + seed noise")
        for label, pts in res["curves"].items():
            xs = [p["epochs"] for p in pts if p["best_val_error"] != float("inf")]
            ys = [100 * p["best_val_error"] for p in pts if p["best_val_error"] != float("inf")]
            ax.step(xs, ys, where="post", marker="o", label=label)
        ax.set(title=reg, xlabel="epochs spent", ylabel="best validation error so far (%)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def parse_args() -> argparse.Namespace:
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
    p.add_argument("--seed", type=int, default=0, help="training seed of grid and searches")
    p.add_argument("--search-seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="sampler seeds: one search each")
    p.add_argument("--noise-seeds", type=int, default=5,
                   help="fresh training seeds for the grid's best strength (>= 2)")
    args = p.parse_args()
    if args.noise_seeds < 2:
        p.error("--noise-seeds must be >= 2 (a spread needs two runs)")
    return args


def measure(args: argparse.Namespace, reg: str) -> Dict[str, object]:
    """Run one regularizer's grid, searches and noise seeds; return its curves and commands."""
    work = args.work.absolute()
    (work / reg).mkdir(parents=True, exist_ok=True)
    cmds = commands(args, reg, work)
    for kind, cmd in cmds.items():
        run(cmd, work / reg / f"{kind}.log")
    strength = best_strength(work / reg / "grid", REGS[reg])
    cmds["noise"] = noise_command(args, reg, work, strength)
    run(cmds["noise"], work / reg / "noise.log")
    return {"commands": cmds, "grid_best_strength": strength,
            "seed_noise": seed_noise(work / reg / "noise"),
            "curves": {k: curve(work / reg / k) for k in cmds if k != "noise"}}


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {reg: measure(args, reg) for reg in args.regs}
    (args.out / f"{args.name}.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
        indent=1, default=str))
    figure(results, args.out / f"{args.name}.png")
    (args.out / f"{args.name}.md").write_text(report(args, results) + "\n")


def reach(points: List[Dict[str, float]], target: float) -> Optional[int]:
    """Epochs spent when the best-so-far first got to `target` or below; None if never."""
    return next((p["epochs"] for p in points if p["best_val_error"] <= target + 1e-12), None)


def rows(reg: str, res: Dict[str, object]) -> List[str]:
    """One table row per search: its best, its epochs, when it reached the grid's best
    exactly and within one seed-noise std, and whether that took at most a third of the grid."""
    grid = res["curves"]["grid"][-1]
    noise = res["seed_noise"] or 0.0
    out = []
    for kind, pts in res["curves"].items():
        if kind == "grid":
            continue
        exact, loose = reach(pts, grid["best_val_error"]), reach(pts, grid["best_val_error"] + noise)
        met = "yes" if loose is not None and loose <= grid["epochs"] / 3 else "no"
        out.append(f"| {reg} | {kind} | {100 * grid['best_val_error']:.2f} "
                   f"({res['grid_best_strength']}) | {grid['epochs']} | {100 * noise:.2f} | "
                   f"{100 * pts[-1]['best_val_error']:.2f} | {pts[-1]['epochs']} | "
                   f"{exact or 'not reached'} | {loose or 'not reached'} | {met} |")
    return out


def report(args: argparse.Namespace, results: Dict[str, Dict[str, object]]) -> str:
    lines = [f"# TPE + median pruning vs grid ({args.name})", "",
             f"psp_mnist preset (LeNet5-caffe, SGD lr 0.1) on {args.subset} training / "
             f"{args.val_size} validation images, {args.epochs} epochs per run, training seed "
             f"{args.seed}; strengths 1e{args.low_exp:g} .. 1e{args.high_exp:g}. Grid: "
             f"{args.grid_points} log-spaced values; search: {args.trials} TPE trials, median "
             f"pruner ({args.startup} startup trials), sampler seeds {args.search_seeds}. Seed "
             f"noise: sample std of the best validation error of the grid's best strength over "
             f"{args.noise_seeds} fresh training seeds.", "",
             f"![curves]({args.name}.png)", "",
             "| reg | search | grid best val err % (strength) | grid epochs | seed noise (std, %) | "
             "search best val err % | search epochs | epochs to grid best | "
             "epochs to grid best + noise | within a third of the grid |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for reg, res in results.items():
        lines += rows(reg, res)
    lines += ["", "Commands (from the repository root):", "", "```",
              "python -m bench.search_vs_grid " + shlex.join(sys.argv[1:]),
              *("regstudy " + shlex.join(c) for r in results.values()
                for c in r["commands"].values()), "```"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
