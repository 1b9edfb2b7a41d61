"""Runs grouped into arms (the runs that share every varying override but the seed), with
their full records, and per-epoch statistics over an arm's seeds for the report's figures.

Torch-free: reads metrics.json only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from ..record.run_record import RunRecord
from .table import DEFAULT_LABEL  # a key some runs override and this one does not


@dataclass
class Arm:
    """One arm: its label and the records (metrics.json as stored) of its runs that have a
    readable one."""

    label: str
    records: List[Dict[str, Any]] = field(default_factory=list)
    run_dirs: List[str] = field(default_factory=list)

    def finished(self, statuses: Iterable[str] = ("completed",)) -> List[Dict[str, Any]]:
        wanted = set(statuses)
        return [r for r in self.records if r.get("status") in wanted and r.get("history")]


@dataclass
class Band:
    """Mean over seeds with the lowest and highest seed per epoch, and how many seeds each
    epoch has (NaN values, e.g. of a diverged epoch, are left out of all three)."""

    epochs: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    seeds: int


def arm_label(overrides: Optional[Mapping[str, str]], keys: Sequence[str]) -> str:
    if overrides is None:
        return "config unknown"
    if not keys:
        return "all runs"
    return " ".join(f"{k}={overrides.get(k, DEFAULT_LABEL)}" for k in keys)


def group_arms(runs: pd.DataFrame, keys: Sequence[str],
               by: Optional[Sequence[str]] = None) -> List[Arm]:
    """Arms in first-seen order from `runs.load_runs`'s frame, those with a readable record;
    `by` groups by those override keys instead of every varying one (e.g. `--by reg`)."""
    arms: Dict[str, Arm] = {}
    for run_dir, overrides in zip(runs["run_dir"], runs["overrides"]):
        label = arm_label(overrides, list(by) if by else keys)
        arm = arms.setdefault(label, Arm(label))
        record = RunRecord.read(run_dir)
        if record is not None:
            arm.records.append(record.data)
            arm.run_dirs.append(run_dir)
    return [a for a in arms.values() if a.records]   # no readable record: nothing to draw


def band(histories: Sequence[Sequence[Mapping[str, Any]]], key: str) -> Optional[Band]:
    """`key` over epochs across runs; None when no run recorded a finite value of it."""
    per_epoch: Dict[int, List[float]] = {}
    for history in histories:
        for row in history:
            value = row.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value) and "epoch" in row:
                per_epoch.setdefault(int(row["epoch"]), []).append(float(value))
    if not per_epoch:
        return None
    epochs = np.array(sorted(per_epoch))
    values = [per_epoch[e] for e in epochs]
    return Band(epochs, np.array([np.mean(v) for v in values]),
                np.array([min(v) for v in values]), np.array([max(v) for v in values]),
                len([h for h in histories if any(key in row for row in h)]))


def final_values(records: Sequence[Mapping[str, Any]], key: str) -> List[float]:
    """`key` at each run's last epoch that has a finite value of it."""
    out = []
    for rec in records:
        values = [row.get(key) for row in rec.get("history") or []]
        finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
        if finite:
            out.append(finite[-1])
    return out


def last_gradflow(records: Sequence[Mapping[str, Any]]) -> Optional[Dict[str, Dict[str, float]]]:
    """Mean |grad| per layer at each run's last recorded epoch, averaged over runs (and the
    largest max |grad|); layers in forward order. None when no run recorded gradient flow."""
    entries = []
    for rec in records:
        rows = [r for r in rec.get("history") or [] if isinstance(r.get("grad_flow"), dict)]
        if rows and isinstance(rows[-1]["grad_flow"].get("mean"), dict):
            entries.append(rows[-1]["grad_flow"])
    if not entries:
        return None
    layers = list(dict.fromkeys(k for e in entries for k in e["mean"]))
    return {"mean": {n: _finite_stat(np.mean, [e["mean"].get(n) for e in entries]) for n in layers},
            "max": {n: _finite_stat(np.max, [(e.get("max") or {}).get(n) for e in entries])
                    for n in layers}}


def _finite_stat(func, values: Iterable[Any]) -> float:
    """`func` over the finite numbers among `values`; NaN when there are none."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(func(finite)) if finite else math.nan
