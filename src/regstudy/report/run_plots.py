"""The figures of `regstudy plot {gradflow,curves} RUN_DIR...`: several runs in one figure, from
their records.

Torch-free: reads only the run records.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..record.run_record import METRICS_FILE, MISSING, RunRecord
from .plots import GradFlowSeries, curves_figure, gradflow_figure, save_figure
from .runs import parse_overrides


class PlotError(ValueError):
    """A run directory cannot be plotted (message says which and why)."""


def load_record(run_dir: Path) -> Dict[str, Any]:
    """The run's metrics.json as stored; PlotError when it is missing or unreadable."""
    record = RunRecord.load(run_dir)
    if record.status == MISSING:
        raise PlotError(f"{run_dir}: no {METRICS_FILE} (is it a run directory?)")
    if not record.readable:
        raise PlotError(f"{run_dir}: unreadable ({record.problem})")
    return record.data


def run_labels(records: Sequence[Dict[str, Any]], dirs: Sequence[Path]) -> List[str]:
    """Legend entries: each run's overrides, leaving out those every plotted run shares (so
    VGG_08 vs VGG_38 reads `model=vgg08` / `model=vgg38`); a run dir name when nothing is left."""
    parsed = [parse_overrides(r.get("overrides") or []) for r in records]
    shared = set.intersection(*(set(p.items()) for p in parsed)) if len(parsed) > 1 else set()
    labels = []
    for p, d in zip(parsed, dirs):
        label = " ".join(f"{k}={v}" for k, v in p.items() if (k, v) not in shared)
        labels.append(label or Path(d).name)
    return labels


def gradflow_record(record: Dict[str, Any], run_dir: Path, epoch: Optional[int]) -> Dict[str, Any]:
    """The `grad_flow` entry of epoch `epoch` (default: the last epoch that has one)."""
    rows = [r for r in record.get("history") or [] if "grad_flow" in r]
    if epoch is not None:
        rows = [r for r in rows if r.get("epoch") == epoch]
    if not rows:
        which = f"epoch {epoch}" if epoch is not None else "any epoch"
        raise PlotError(f"{run_dir}: no gradient flow recorded for {which} "
                        "(was it trained with diag.enabled=false?)")
    return rows[-1]["grad_flow"]


def plot_gradflow(dirs: Sequence[Path], out: Path, epoch: Optional[int] = None,
                  title: Optional[str] = None) -> Path:
    records = [load_record(d) for d in dirs]
    series = [GradFlowSeries.from_record(label, gradflow_record(rec, d, epoch))
              for label, rec, d in zip(run_labels(records, dirs), records, dirs)]
    when = f"epoch {epoch}" if epoch is not None else "last recorded epoch"
    return save_figure(gradflow_figure(series, title or f"Gradient flow ({when})"), out)


def plot_curves(dirs: Sequence[Path], out: Path) -> Path:
    records = [load_record(d) for d in dirs]
    for rec, d in zip(records, dirs):
        if not rec.get("history"):
            raise PlotError(f"{d}: no finished epoch in {METRICS_FILE}")
    runs = [(label, rec["history"]) for label, rec in zip(run_labels(records, dirs), records)]
    return save_figure(curves_figure(runs), out)


def plot_arms(dirs: Sequence[Path], out: Path, keys: Sequence[str] = (),
              by: Sequence[str] = (), logy: bool = False) -> Path:
    """Runs under `dirs` (searched recursively) grouped into arms by the override keys `by`
    (default: every key that varies), completed runs only: mean over seeds with a min–max band
    of each history key (default: losses and validation accuracy)."""
    from .arms import group_arms
    from .runs import NoRunsError, load_runs
    from .study_plots import LEARNING, banded_figure, key_panels
    from .table import varying_keys

    try:
        runs = load_runs(dirs)
    except NoRunsError as err:
        raise PlotError(str(err)) from None
    arms = group_arms(runs, varying_keys(runs["overrides"])[0], by or None)
    series = [(a.label, [r["history"] for r in a.finished()]) for a in arms]
    series = [(label, h) for label, h in series if h]
    if not series:
        raise PlotError(f"no completed run with a history under {', '.join(map(str, dirs))}")
    panels = key_panels(keys, logy) if keys else LEARNING
    fig, missing = banded_figure(series, panels)
    wanted = {k for p in panels for k, _ in p.keys}
    if len(missing) == len(series) * len(wanted):
        raise PlotError(f"no run recorded {', '.join(sorted(wanted))} in its history")
    for line in missing:
        print(f"regstudy plot: note: {line}", file=sys.stderr)
    return save_figure(fig, out)
