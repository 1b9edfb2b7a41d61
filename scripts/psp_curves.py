"""<z^2> curves and the test-error table of a PSP comparison sweep (experiment=psp_mnist, ...).

Reads every metrics.json under the sweep directory, labels each run by its `reg=` override and
writes, for the completed runs:
  results/<name>_zsq.png  <z^2> (per-site mean of z^2, averaged over sites) over epochs on the
                          training batches and on the validation set, one line per regularizer:
                          mean over seeds, band from the lowest to the highest seed;
  results/<name>.md       test error mean ± std per regularizer, the final <z^2>, the exact
                          sweep command (from the sweep's multirun.yaml) and `regstudy table`;
  results/<name>.json     the same summary as numbers.

    python scripts/psp_curves.py results/runs/psp_mnist --name psp_mnist
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

CURVES = {"zsq/mean": "training batches", "zsq_val/mean": "validation set"}


def reg_label(record: dict) -> str:
    """The run's `reg=` override (how the sweep named its regularizer), else its active ones."""
    for item in record.get("overrides", []):
        if item.startswith("reg="):
            return item.split("=", 1)[1]
    reg = record.get("config", {}).get("reg", {})
    active = [k for k, v in reg.items() if isinstance(v, dict)]
    return "+".join(active) or "none"


def load_runs(sweep_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per run (label, seed, status, test error) and one per run and epoch (<z^2>)."""
    runs, epochs = [], []
    for path in sorted(sweep_dir.rglob("metrics.json")):
        rec = json.loads(path.read_text())
        run = {"run": str(path.parent.relative_to(sweep_dir)), "reg": reg_label(rec),
               "seed": rec.get("seed"), "status": rec.get("status"),
               "test_error": rec.get("test_error"), "epochs_run": rec.get("epochs_run")}
        runs.append(run)
        for row in rec.get("history", []):
            epochs.append({"run": run["run"], "reg": run["reg"], "seed": run["seed"],
                           "epoch": row["epoch"], **{k: row.get(k) for k in CURVES}})
    if not runs:
        raise SystemExit(f"no metrics.json under {sweep_dir}")
    runs_df = pd.DataFrame(runs)
    runs_df["order"] = runs_df["run"].map(lambda r: int(r) if r.isdigit() else 0)
    return runs_df.sort_values("order"), pd.DataFrame(epochs)


def sweep_command(sweep_dir: Path) -> Optional[str]:
    """`regstudy train -m ...` as the sweep was launched (Hydra's multirun.yaml keeps it)."""
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return None
    overrides = OmegaConf.load(path).hydra.overrides
    hydra_args = [o for o in overrides.hydra if not o.startswith("hydra.mode=")]
    return "regstudy train -m " + " ".join([*overrides.task, *hydra_args])


def summarise(runs: pd.DataFrame, epochs: pd.DataFrame) -> pd.DataFrame:
    """Per regularizer: completed/total runs, test error (%) and final <z^2>, mean and std."""
    done = runs[runs["status"] == "completed"]
    last = (epochs[epochs["run"].isin(done["run"])].sort_values("epoch")
            .groupby("run").tail(1).set_index("run"))
    order = list(dict.fromkeys(runs["reg"]))
    rows = []
    for reg in order:
        mine = done[done["reg"] == reg]
        err = 100 * mine["test_error"].astype(float)
        finals = last.loc[last.index.intersection(mine["run"])]
        rows.append({"reg": reg, "runs": f"{len(mine)}/{int((runs['reg'] == reg).sum())}",
                     "epochs": ",".join(map(str, sorted(set(mine["epochs_run"])))),
                     "test error % mean": err.mean(), "test error % std": err.std(),
                     "final <z^2> train": finals["zsq/mean"].mean(),
                     "final <z^2> val": finals["zsq_val/mean"].mean()})
    return pd.DataFrame(rows)


def plot_curves(epochs: pd.DataFrame, done_runs: List[str], order: List[str], title: str,
                path: Path) -> None:
    data = epochs[epochs["run"].isin(done_runs)]
    fig, axes = plt.subplots(1, len(CURVES), figsize=(11, 4.2), sharey=True)
    for ax, (key, where) in zip(axes, CURVES.items()):
        for reg in order:
            g = data[data["reg"] == reg].groupby("epoch")[key]
            if g.ngroups == 0:
                continue
            mean, lo, hi = g.mean(), g.min(), g.max()
            line, = ax.plot(mean.index, mean.values, label=f"{reg} ({g.size().max()} seeds)")
            ax.fill_between(mean.index, lo.values, hi.values, color=line.get_color(), alpha=0.2)
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_title(f"<z²> on the {where}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("<z²>: mean over sites of mean(z²)")
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def regstudy_table(sweep_dir: Path) -> Optional[str]:
    """`regstudy table DIR --baseline reg=none`, when that command is available."""
    res = subprocess.run([sys.executable, "-m", "regstudy.cli", "table", str(sweep_dir),
                          "--baseline", "reg=none"], capture_output=True, text=True)
    return res.stdout.strip() if res.returncode == 0 else None


def fmt(value: float, digits: int) -> str:
    return "n/a" if pd.isna(value) else f"{value:.{digits}f}"


def report(name: str, sweep_dir: Path, summary: pd.DataFrame, png: Path,
           command: Optional[str], table: Optional[str]) -> str:
    shown = pd.DataFrame({
        "regularizer": summary["reg"], "completed runs": summary["runs"],
        "epochs": summary["epochs"],
        "test error % (mean ± std)": [f"{fmt(m, 2)} ± {fmt(s, 2)}" for m, s in
                                      zip(summary["test error % mean"],
                                          summary["test error % std"])],
        "final <z²> train": summary["final <z^2> train"].map(lambda v: fmt(v, 4)),
        "final <z²> val": summary["final <z^2> val"].map(lambda v: fmt(v, 4))})
    lines = [f"# {name}: none / L2 / dropout / PSP", "",
             f"Runs: `{sweep_dir}` (not committed). Test error is of the weights best on "
             "validation; std over seeds (ddof 1). <z²> is the mean over activation sites and "
             "the logits of the per-site mean of z² (`zsq/mean`, `zsq_val/mean` in each run's "
             "metrics.json), at the last epoch, averaged over seeds.", "",
             shown.to_markdown(index=False), "", f"![<z²> over epochs]({png.name})", "",
             "## Commands", "", "```",
             command or "(the sweep directory holds no multirun.yaml)",
             f"python scripts/psp_curves.py {sweep_dir} --name {name}", "```"]
    if table:
        lines += ["", "## `regstudy table " + str(sweep_dir) + " --baseline reg=none`", "", table]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep_dir", type=Path)
    ap.add_argument("--name", default="psp_mnist", help="file stem of the outputs")
    ap.add_argument("--out-dir", type=Path, default=Path("results"))
    args = ap.parse_args()
    runs, epochs = load_runs(args.sweep_dir)
    summary = summarise(runs, epochs)
    order = list(summary["reg"])
    args.out_dir.mkdir(parents=True, exist_ok=True)
    png = args.out_dir / f"{args.name}_zsq.png"
    done = list(runs.loc[runs["status"] == "completed", "run"])
    plot_curves(epochs, done, order, f"{args.name}: <z²> per regularizer (mean over seeds)", png)
    md = report(args.name, args.sweep_dir, summary, png, sweep_command(args.sweep_dir),
                regstudy_table(args.sweep_dir))
    (args.out_dir / f"{args.name}.md").write_text(md)
    (args.out_dir / f"{args.name}.json").write_text(
        summary.to_json(orient="records", indent=1) + "\n")
    print(md)


if __name__ == "__main__":
    main()
