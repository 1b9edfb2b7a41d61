"""Figures over arms of a study: seed-banded curves (mean line, min–max band, one colour per
arm) and an Optuna search's history. Built on `matplotlib.figure.Figure`, headless. Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullLocator

from .arms import band
from .plots import epoch_axis

History = Sequence[Mapping[str, Any]]
MARKERS = "osD^vP*X"   # per arm, so arms whose lines coincide stay distinguishable


@dataclass(frozen=True)
class Panel:
    """One axes: history keys drawn with a line style each (e.g. train solid, val dashed)."""

    title: str
    ylabel: str
    keys: Tuple[Tuple[str, str], ...]      # (history key, line style)
    logy: bool = False


LEARNING = (Panel("loss", "cross-entropy loss", (("train_loss", "-"), ("val_loss", "--"))),
            Panel("validation accuracy", "accuracy", (("val_acc", "--"),)))
ZSQ = (Panel("<z²> on the training batches", "<z²>: mean over sites of mean(z²)",
             (("zsq/mean", "-"),), logy=True),
       Panel("<z²> on the validation set", "<z²>", (("zsq_val/mean", "--"),), logy=True))


def key_panels(keys: Sequence[str], logy: bool = False) -> Tuple[Panel, ...]:
    """One panel per history key, for `regstudy plot curves --key K`."""
    return tuple(Panel(k, k, ((k, "-"),), logy) for k in keys)


def banded_figure(arms: Sequence[Tuple[str, Sequence[History]]], panels: Sequence[Panel],
                  colors: Sequence[str] | None = None) -> Tuple[Figure, List[str]]:
    """Each panel: per arm the mean over its runs' histories and a min–max band; `colors`:
    one per arm (default C0, C1, ...).

    Returns the figure and what it could not draw ("<arm>: no <key>"), for the page to say."""
    fig = Figure(figsize=(min(5.5 * len(panels), 16.0), 4.2 + 0.25 * len(arms)))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    missing: List[str] = []
    colors = list(colors) if colors else [f"C{i % 10}" for i in range(len(arms))]
    for ax, panel in zip(axes, panels):
        for i, (color, (label, histories)) in enumerate(zip(colors, arms)):
            for key, style in panel.keys:
                b = band(histories, key)
                if b is None:
                    missing.append(f"{label}: no {key}")
                    continue
                mean = np.where(b.mean > 0, b.mean, np.nan) if panel.logy else b.mean
                ax.plot(b.epochs, mean, style, color=color, marker=MARKERS[i % len(MARKERS)],
                        ms=4, mfc="none" if i % 2 else color)
                if len(histories) > 1:
                    ax.fill_between(b.epochs, b.low, b.high, color=color, alpha=0.18, lw=0)
        _style_axes(ax, panel)
    handles = [Line2D([], [], color=c, marker=MARKERS[i % len(MARKERS)], ms=4,
                      mfc="none" if i % 2 else c,
                      label=f"{label} ({len(h)} run{'s' if len(h) != 1 else ''})")
               for i, (c, (label, h)) in enumerate(zip(colors, arms))]
    styles = {style for p in panels for _, style in p.keys}
    if styles == {"-", "--"}:
        handles += [Line2D([], [], color="0.3", ls="-", label="training"),
                    Line2D([], [], color="0.3", ls="--", label="validation")]
    _fixed_legend_below(fig, handles)
    return fig, missing


def _fixed_legend_below(fig: Figure, handles: List[Line2D]) -> None:
    """The legend under the axes with margins computed here: constrained layout measures
    every tick label and took most of the report's time on a log axis."""
    ncols = 1 if len(handles) > 6 else len(handles)
    rows = math.ceil(len(handles) / ncols)
    height = fig.get_figheight()
    legend_in = 0.25 * rows + 0.75          # legend rows plus the x tick labels and axis label
    fig.legend(handles=handles, loc="lower center", ncols=ncols, fontsize=8, frameon=False)
    fig.subplots_adjust(left=1.0 / fig.get_figwidth(), right=0.98, top=1 - 0.35 / height,
                        wspace=0.32,
                        bottom=min(legend_in / height, 0.6))


def _unique_ticks(ax) -> None:
    """Within a narrow range '%.3g' can print one number twice: fewer ticks until not."""
    for n in (6, 4, 3, 2):
        ax.yaxis.set_major_locator(MaxNLocator(n))
        low, high = ax.get_ylim()
        labels = [f"{t:.3g}" for t in ax.get_yticks() if low <= t <= high]
        if len(set(labels)) == len(labels):
            return
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.4g"))


def _style_axes(ax, panel: Panel) -> None:
    ax.set_title(panel.title, fontsize=10)
    ax.set_ylabel(panel.ylabel)
    ax.set_xlabel("epoch")
    epoch_axis(ax)
    if panel.logy and ax.has_data():
        ax.set_yscale("log")
        low, high = ax.get_ylim()
        if high < 10 * low:   # within a decade log ticks would all read 10^k: plain numbers
            ax.yaxis.set_major_locator(MaxNLocator(6))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_major_formatter(FormatStrFormatter("%.3g"))
            _unique_ticks(ax)
    if not ax.has_data():
        ax.text(0.5, 0.5, "not recorded", transform=ax.transAxes, ha="center", va="center")
    ax.grid(True, which="major", alpha=0.3)


def search_figure(trials: Sequence[Mapping[str, Any]], objective: str,
                  direction: str) -> Figure:
    """Objective per trial with the best so far, and the objective against each parameter;
    pruned trials are crosses (their value is the objective when they were stopped)."""
    params = list(dict.fromkeys(k for t in trials for k in (t.get("params") or {})))
    fig = Figure(figsize=(min(5.0 * (1 + len(params)), 16.0), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, 1 + len(params)))
    done = [t for t in trials if t.get("state") == "complete" and _finite(t.get("value"))]
    pruned = [t for t in trials if t.get("state") == "pruned" and _finite(t.get("value"))]
    ax = axes[0]
    for group, marker, color, label in ((done, "o", "C0", "complete"),
                                        (pruned, "x", "C3", "pruned")):
        ax.plot([t["number"] for t in group], [t["value"] for t in group], marker, color=color,
                ls="none", label=f"{label} ({len(group)})")
    if done:
        order = sorted(done, key=lambda t: t["number"])
        best = (np.maximum if direction == "maximize" else np.minimum).accumulate(
            [t["value"] for t in order])
        ax.step([t["number"] for t in order], best, where="post", color="k", lw=1,
                label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    for ax, name in zip(axes[1:], params):
        _param_panel(ax, name, done, pruned, objective)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig


def _param_panel(ax, name: str, done: Sequence[Mapping[str, Any]],
                 pruned: Sequence[Mapping[str, Any]], objective: str) -> None:
    values: Dict[str, List[float]] = {}
    for group, marker, color in ((done, "o", "C0"), (pruned, "x", "C3")):
        xs = [(t["params"] or {}).get(name) for t in group]
        keep = [(x, t["value"]) for x, t in zip(xs, group) if _finite(x)]
        ax.plot([x for x, _ in keep], [v for _, v in keep], marker, color=color, ls="none")
        values.setdefault("x", []).extend(x for x, _ in keep)
    xs = np.asarray(values.get("x", []), dtype=float)
    if xs.size and (xs > 0).all() and xs.max() / xs.min() > 100:
        ax.set_xscale("log")
    ax.set_xlabel(name)
    ax.set_ylabel(objective)


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def pareto_figure(trials: Sequence[Mapping[str, Any]], objectives: Sequence[str],
                  front: Sequence[int]) -> Figure:
    """A multi-objective search: the first two objectives of every completed trial, the Pareto
    front's trials (search.json `pareto_front`) joined by a line, each labelled by number."""
    fig = Figure(figsize=(5.5, 4.2), layout="constrained")
    ax = fig.subplots()
    done = [t for t in trials if t.get("state") == "complete" and len(t.get("values") or []) > 1
            and all(_finite(v) for v in t["values"][:2])]
    on = sorted((t for t in done if t["number"] in set(front)), key=lambda t: t["values"][0])
    off = [t for t in done if t["number"] not in set(front)]
    ax.plot([t["values"][0] for t in off], [t["values"][1] for t in off], "o", color="0.6",
            ls="none", label=f"dominated ({len(off)})")
    ax.plot([t["values"][0] for t in on], [t["values"][1] for t in on], "o-", color="C0",
            label=f"Pareto front ({len(on)})")
    for t in on:
        ax.annotate(str(t["number"]), (t["values"][0], t["values"][1]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(objectives[0])
    ax.set_ylabel(objectives[1])
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig
