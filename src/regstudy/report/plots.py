"""Figures from plain numbers: gradient flow, training curves, and the probe's panels.

Built on `matplotlib.figure.Figure` (no pyplot state, no display needed), so the training
observers, `regstudy plot` and `regstudy probe` can all render headless. Torch-free.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping, Sequence, Tuple

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator


@dataclass
class GradFlowSeries:
    """One run's gradient flow at one step: mean and max |grad| per weight tensor, in forward order."""

    label: str
    layers: List[str]
    mean: List[float]
    max: List[float]

    @classmethod
    def from_record(cls, label: str, record: Mapping[str, Any]) -> GradFlowSeries:
        """From a metrics.json history entry {"step", "mean": {layer: v}, "max": {layer: v}}."""
        layers = list(record["mean"])
        return cls(label, layers, [record["mean"][n] for n in layers],
                   [record["max"][n] for n in layers])


def _positive(values: Sequence[float]) -> np.ndarray:
    """Values for a log axis: zeros, NaN (no gradient) and inf (a diverged step) become gaps
    rather than errors."""
    arr = np.asarray(values, dtype=float)
    return np.where(np.isfinite(arr) & (arr > 0), arr, np.nan)


def gradflow_figure(series: Sequence[GradFlowSeries], title: str = "Gradient flow",
                    colors: Sequence[str] | None = None) -> Figure:
    """Mean (solid) and max (dashed) |grad| per layer on a log axis, one colour per series.

    Layer names label the x axis when every series has the same layers; otherwise (e.g. VGG_08
    against VGG_38) the axis is the layer index in forward order. `colors`: one per series
    (default C0, C1, ...), so a report can keep an arm's colour across its figures.
    """
    colors = list(colors) if colors else [f"C{i % 10}" for i in range(len(series))]
    longest = max(len(s.layers) for s in series)
    fig = Figure(figsize=(min(max(6.0, 0.3 * longest + 2.5), 24.0), 5.0 + 0.25 * len(series)),
                 layout="constrained")
    ax = fig.add_subplot()
    drawn = False
    for s, color in zip(series, colors):
        x = np.arange(len(s.layers))
        mean, peak = _positive(s.mean), _positive(s.max)
        drawn = drawn or not (np.isnan(mean).all() and np.isnan(peak).all())
        ax.plot(x, mean, "-o", color=color, ms=3, label=s.label)
        ax.plot(x, peak, "--", color=color, alpha=0.6, lw=1)
    if all(s.layers == series[0].layers for s in series):
        ax.set_xticks(np.arange(longest), series[0].layers, rotation=90, fontsize=7)
        ax.set_xlabel("layer (forward order)")
    else:
        ax.set_xlabel("layer index (forward order)")
    if drawn:
        ax.set_yscale("log")
    else:  # a diverged step: say so instead of failing on an empty log axis
        ax.text(0.5, 0.5, "no finite non-zero gradient (diverged or no backward pass)",
                transform=ax.transAxes, ha="center", va="center")
    ax.set_ylabel("|grad|  (solid: mean, dashed: max)")
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(title)
    _legend_below(fig, [Line2D([], [], color=c, marker="o", ms=3, label=s.label)
                        for s, c in zip(series, colors)])
    return fig


def epoch_axis(ax) -> None:
    """Whole epochs on the x axis; one or two epochs get a half-epoch margin each side instead
    of matplotlib's 0.945-1.05 for a single point."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    xs = [x for line in ax.get_lines() for x in np.asarray(line.get_xdata(), dtype=float)]
    if xs and max(xs) - min(xs) < 2:
        ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)


def _legend_below(fig: Figure, handles: List[Line2D]) -> None:
    """Run labels (overrides) can be long: wrap them and put the legend under the axes."""
    for h in handles:
        h.set_label(textwrap.fill(h.get_label(), 70))
    fig.legend(handles=handles, loc="outside lower center", fontsize=8,
               ncols=1 if len(handles) > 4 else len(handles))


def curves_figure(runs: Sequence[Tuple[str, Sequence[Mapping[str, Any]]]]) -> Figure:
    """Loss and accuracy over epochs for several runs: training solid, validation dashed."""
    fig = Figure(figsize=(11.0, 4.5 + 0.3 * len(runs)), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    handles = []
    for i, (label, history) in enumerate(runs):
        color = f"C{i % 10}"
        epochs = [row["epoch"] for row in history]
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "acc")):
            for split, style in (("train", "-"), ("val", "--")):
                values = [row.get(f"{split}_{metric}", np.nan) for row in history]
                if not np.all(np.isnan(np.asarray(values, dtype=float))):
                    ax.plot(epochs, values, style, color=color, marker="o", ms=3)
        handles.append(Line2D([], [], color=color, label=label))
    handles += [Line2D([], [], color="0.3", ls="-", label="training"),
                Line2D([], [], color="0.3", ls="--", label="validation")]
    ax_loss.set_ylabel("cross-entropy loss")
    ax_acc.set_ylabel("accuracy")
    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        epoch_axis(ax)
        ax.grid(True, alpha=0.3)
    _legend_below(fig, handles)
    return fig


def save_figure(fig: Figure, path: Path | str, dpi: int = 120) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


# --- regstudy probe ------------------------------------------------------------------------------

def _model_panels(ax_var: Axes, ax_grad: Axes, table, title: str) -> None:
    x = np.arange(len(table))
    for col, label in (("var_out", "layer output"), ("var_z", "activation input z"),
                       ("var_act", "activation output")):
        ax_var.plot(x, _positive(table[col]), "-o", ms=3, label=label)
    ax_var.set_yscale("log")
    ax_var.set_ylabel("variance")
    ax_var.set_title(title, fontsize=9)
    ax_var.legend(fontsize=8)
    ax_grad.plot(x, _positive(table["grad_abs_mean"]), "-o", ms=3, color="C3")
    ax_grad.set_yscale("log")
    ax_grad.set_ylabel("mean |grad| of weight")
    for ax in (ax_var, ax_grad):
        ax.set_xticks(x, table["layer"], rotation=90, fontsize=6)
        ax.grid(True, alpha=0.3)


def _init_panel(ax: Axes, data: Mapping[str, Any]) -> None:
    """Var[z_l] relative to Var[z_1], measured (markers) against r^(l-1) (dashed)."""
    layers = np.arange(1, data["depth"] + 1)
    for i, row in enumerate(data["summary"].itertuples()):
        ratios = data["per_layer"][row.init]
        measured = np.concatenate([[1.0], np.cumprod(ratios[1:])])
        ax.plot(layers, measured, "o", ms=3, color=f"C{i}", label=f"{row.init}")
        ax.plot(layers, row.predicted_factor ** (layers - 1.0), "--", color=f"C{i}", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("Var[z_l] / Var[z_1]  (dashed: closed form)")
    ax.set_title("plain ReLU MLP at initialization", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def _kept_panel(ax: Axes, data: Mapping[str, Any]) -> None:
    """Histogram of units kept by dropout per sample against the Binomial(M, 1-p) pmf."""
    from scipy import stats

    kept, units, p = data["kept"], data["units"], data["p"]
    k = np.arange(kept.min(), kept.max() + 1)
    ax.hist(kept, bins=np.append(k, k[-1] + 1) - 0.5, density=True, alpha=0.5, label="measured")
    ax.plot(k, stats.binom.pmf(k, units, 1 - p), "k-", lw=1, label=f"Binomial({units}, {1 - p:g})")
    ax.set_xlabel("units kept per sample")
    ax.set_title("inverted dropout: kept units", fontsize=9)
    ax.legend(fontsize=8)


def probe_figure(checks: Sequence[Any]) -> Figure | None:
    """One row of panels for the probe's checks that have a picture (model, init, dropout)."""
    panels: List[Tuple[str, Any]] = [(c.kind, c) for c in checks
                                     if c.kind in ("model", "init", "dropout")]
    count = sum(2 if kind == "model" else 1 for kind, _ in panels)
    if count == 0:
        return None
    fig = Figure(figsize=(5.0 * count, 4.8), layout="constrained")
    axes = list(np.atleast_1d(fig.subplots(1, count)))
    for kind, check in panels:
        if kind == "model":
            _model_panels(axes.pop(0), axes.pop(0), check.table, check.title)
        elif kind == "init":
            _init_panel(axes.pop(0), check.data)
        else:
            _kept_panel(axes.pop(0), check.data)
    return fig

