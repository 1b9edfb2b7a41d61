"""Everything the report page shows, as plain values for the template: the six sections and
what could not be shown. Reads run records, summarises with `table.summarize` (the numbers of
`regstudy table`), draws figures with matplotlib. Torch-free.
"""

from __future__ import annotations

import io
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pandas as pd

from ..record.files import atomic_write_text
from . import stats
from .arms import Arm, final_values, group_arms, last_gradflow
from .html import figure_uri
from .plots import GradFlowSeries, gradflow_figure
from .runs import load_runs
from .search import find_searches, read_search
from .study_facts import commands, environment
from .study_plots import LEARNING, ZSQ, banded_figure, pareto_figure, search_figure
from .table import (
    DISPLAY,
    BaselineError,
    Table,
    display_frame,
    notes,
    parse_baseline,
    summarize,
    to_csv,
)

TB_DIR = "tb"   # the TensorBoard folder of a run directory


def build(dirs: Sequence[Path], out: Path, metric: str = "test_error",
          baseline: Optional[str] = None, argv: Sequence[str] = (), paired: bool = False,
          sesoi: float = 0.0) -> Dict[str, Any]:
    """The template's context. Raises NoRunsError when the directories hold no run.
    `sesoi` is in the table's units (percentage points for errors and accuracies)."""
    runs = load_runs(dirs)
    notices: List[str] = []
    try:
        table = summarize(runs, metric, parse_baseline(baseline), paired,
                          sesoi / DISPLAY[metric][1])
    except BaselineError as err:
        notices.append(f"No comparison with a baseline: {err}")
        table = summarize(runs, metric, None)
    arms = group_arms(runs, table.keys)
    records = [r for a in arms for r in a.records]
    notices += _data_notices(runs, metric, arms)
    context = {
        "title": "regstudy report: " + ", ".join(str(d) for d in dirs),
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["regstudy", "report", *argv]) if argv else "",
        "dirs": [str(Path(d).resolve()) for d in dirs],
        "study": _study(dirs, table, records),
        "table": _table(table),
        "verdicts": study_verdicts(dirs),
        "curves": _figure(arms, LEARNING, "learning curves"),
        "gradflow": _gradflow(arms),
        "zsq": _figure(arms, ZSQ, "<z²>"),
        "zsq_final": _finals(arms, ("zsq/mean", "zsq_val/mean")),
        "searches": [_search(p) for p in find_searches(dirs)],
        "runs": _runs(runs, table, out),
    }
    context["notices"] = notices + [n for key in ("curves", "gradflow", "zsq")
                                    for n in context[key]["notes"]]
    return context


def _data_notices(runs: pd.DataFrame, metric: str, arms: Sequence[Arm]) -> List[str]:
    """Completed runs without a usable value of the metric, and differing metric sets."""
    out = []
    done = runs[runs["status"] == "completed"]
    nan = done[done[metric].isna()]
    if len(nan):
        out.append(f"{len(nan)} completed run(s) have no finite {metric} (NaN or missing) and are "
                   "left out of the table's statistics: " + ", ".join(nan["run_dir"]))
    keysets: Dict[frozenset, List[str]] = {}
    for arm in arms:
        for rec in arm.finished(("completed",)):
            keys = frozenset(k for row in rec["history"] for k in row)
            keysets.setdefault(keys, []).append(arm.label)
    if len(keysets) > 1:
        common = frozenset.intersection(*keysets)
        extra = sorted({k for ks in keysets for k in ks - common})
        out.append("The runs recorded different metrics per epoch; figures show each arm's "
                   "own: recorded by only some runs: " + ", ".join(extra[:20])
                   + (" ..." if len(extra) > 20 else ""))
    return out


def _study(dirs: Sequence[Path], table: Table, records: Sequence[Dict[str, Any]]) -> Dict:
    """Section 1: what varied, what was the same, runs by status, commands, environment."""
    g = table.groups
    varied = [{"key": k, "values": ", ".join(dict.fromkeys(map(str, g[k])))} for k in table.keys]
    return {"varied": varied,
            "common": [{"key": k, "value": v} for k, v in table.common.items()],
            "statuses": [{"status": s, "n": n} for s, n in table.status_counts.items()],
            "total": sum(table.status_counts.values()),
            "commands": commands(dirs, records),
            "environment": environment(records)}


def study_verdicts(dirs: Sequence[Path]) -> Optional[Dict[str, Any]]:
    """The decisions and claims of a `regstudy study` whose final runs are shown (its
    study.json sits beside DIR/final), for section 2 to list."""
    import json

    for d in dirs:
        path = Path(d).resolve().parent / "study.json"
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if doc.get("decisions") or doc.get("claims"):
            return {"path": str(path), "baseline": doc.get("baseline"),
                    "analysis": doc.get("analysis") or {},
                    "decisions": doc.get("decisions") or {}, "claims": doc.get("claims") or []}
    return None


def _table(table: Table) -> Dict[str, Any]:
    """Section 2: the table as `regstudy table` prints it, and its CSV cells verbatim."""
    shown = display_frame(table)
    raw = pd.read_csv(io.StringIO(to_csv(table)), dtype=str, keep_default_na=False)
    return {"columns": list(shown.columns), "rows": shown.values.tolist(), "notes": notes(table),
            "csv_columns": list(raw.columns), "csv_rows": raw.values.tolist(),
            "nkeys": max(len(table.keys), 1), "metric": table.metric,
            "baseline": " ".join(f"{k}={v}" for k, v in table.baseline.items())}


def _colors(arms: Sequence[Arm]) -> Dict[str, str]:
    """One colour per arm, the same in every figure of the page."""
    return {a.label: f"C{i % 10}" for i, a in enumerate(arms)}


def _figure(arms: Sequence[Arm], panels, what: str) -> Dict[str, Any]:
    """A seed-banded figure over the completed runs of each arm."""
    series = [(a.label, [r["history"] for r in a.finished()]) for a in arms]
    series = [(label, h) for label, h in series if h]
    if not series:
        return {"img": None, "notes": [f"No {what}: no completed run with a history."]}
    colors = _colors(arms)
    fig, missing = banded_figure(series, panels, [colors[label] for label, _ in series])
    wanted = {k for p in panels for k, _ in p.keys}
    if len(missing) == len(series) * len(wanted):
        return {"img": None, "notes": [f"No {what}: the runs did not record "
                                       f"{', '.join(sorted(wanted))}."]}
    one = [label for label, h in series if len(h) == 1]
    note = [f"{what}: not recorded for " + "; ".join(missing)] if missing else []
    if one:
        note.append(f"{what}: no band (every arm has 1 seed)" if len(one) == len(series)
                    else f"{what}: no band for {', '.join(one)} (1 seed)")
    return {"img": figure_uri(fig), "notes": note}


def _finals(arms: Sequence[Arm], keys: Sequence[str]) -> List[Dict[str, str]]:
    """Per arm, each key at the last epoch: mean ± std over completed seeds (n)."""
    rows = []
    for arm in arms:
        cells = {}
        for key in keys:
            s = stats.summarize(final_values(arm.finished(), key))
            cells[key] = "" if s.n == 0 else f"{s.mean:.4g}" + (
                f" ± {s.std:.2g}" if s.n > 1 else "") + f" (n={s.n})"
        if any(cells.values()):
            rows.append({"arm": arm.label, "values": [cells[k] for k in keys]})
    return rows


def _gradflow(arms: Sequence[Arm]) -> Dict[str, Any]:
    series, absent = [], []
    for arm in arms:
        flow = last_gradflow(arm.finished())
        if flow is None:
            absent.append(arm.label)
            continue
        series.append(GradFlowSeries(arm.label, list(flow["mean"]), list(flow["mean"].values()),
                                     list(flow["max"].values())))
    notes_ = [f"gradient flow: not recorded for {', '.join(absent)} (diag.enabled=false?)"] \
        if absent else []
    if not series:
        return {"img": None, "notes": notes_}
    colors = _colors(arms)
    fig = gradflow_figure(series, "|grad| per layer, last recorded epoch",
                          [colors[s.label] for s in series])
    return {"img": figure_uri(fig), "notes": notes_}


def _search(path: Path) -> Dict[str, Any]:
    """Section 5 for one search.json: objective per trial (several objectives: the Pareto
    front), and the best trial per combination where a parameter is a list of regularizers."""
    s = read_search(path)
    d = s.data
    multi = isinstance(d.get("objective"), list) and len(d["objective"]) > 1
    front = [t["number"] for t in d.get("pareto_front") or []]
    counted = [t for t in s.trials if t["value"] is not None or (multi and t.get("values"))]
    if multi and counted:
        img = figure_uri(pareto_figure(s.trials, d["objective"], front))
    elif counted:
        img = figure_uri(search_figure(s.trials, str(d.get("objective", "objective")),
                                       str(d.get("direction", "maximize"))))
    else:
        img = None
    notes_ = list(s.problems) + ([] if counted else ["No trial has an objective value to plot."])
    return {"path": str(path), "study_name": d.get("study_name"), "storage": d.get("storage"),
            "objective": d.get("objective"), "direction": d.get("direction"),
            "counts": d.get("counts") or {}, "best": d.get("best") or {}, "img": img,
            "front": d.get("pareto_front") or [], "trials": s.trials, "notes": notes_,
            "combinations": best_per_combination(s.trials, str(d.get("direction")))}


def best_per_combination(trials: List[Dict[str, Any]], direction: str) -> List[Dict[str, Any]]:
    """For each list-valued parameter (a combination of regularizers, `reg=choice([l2],
    [l2,dropout])`): the best completed trial of every combination sampled, best first."""
    out: Dict[tuple, Dict[str, Any]] = {}
    sign = -1 if direction == "maximize" else 1
    for t in trials:
        if t.get("state") != "complete" or t.get("value") is None:
            continue
        for key, value in (t.get("params") or {}).items():
            if not isinstance(value, list):
                continue
            combo = (key, "[" + ",".join(map(str, value)) + "]")
            if combo not in out or sign * t["value"] < sign * out[combo]["value"]:
                out[combo] = {"key": key, "combination": combo[1], "number": t["number"],
                              "value": t["value"], "params": t.get("params") or {}}
    return sorted(out.values(), key=lambda r: (r["key"], sign * r["value"]))


def _href(target: Path, out: Path) -> str:
    """A link that still works when the page is moved together with the runs."""
    try:
        return Path(os.path.relpath(target, Path(out).resolve().parent)).as_posix()
    except ValueError:   # another drive (Windows)
        return target.as_uri()


def _runs(runs: pd.DataFrame, table: Table, out: Path) -> Dict[str, Any]:
    """Section 6: runs that did not complete with their error line, and a link to every run."""
    listed = []
    for _, r in runs.iterrows():
        run_dir = Path(r["run_dir"])
        tb = run_dir / TB_DIR
        seed = r["seed"]
        listed.append({"dir": str(run_dir), "href": _href(run_dir, out),
                       "tb": _href(tb, out) if tb.is_dir() else None,
                       "status": r["status"], "note": r["note"] or "",
                       "seed": "" if seed is None or (isinstance(seed, float) and math.isnan(seed))
                       else str(int(seed))})
    incomplete = [dict(row, group=group) for row, group in
                  zip([x for x in listed if x["status"] != "completed"],
                      table.incomplete["group"].tolist())]
    return {"incomplete": incomplete, "all": listed}


def write_report(dirs: Sequence[Path], out: Path, metric: str = "test_error",
                 baseline: Optional[str] = None, argv: Sequence[str] = (),
                 paired: bool = False, sesoi: float = 0.0) -> Path:
    """Build and write the page; raises NoRunsError when there is no run. Written to a
    temporary name first, so an existing report is replaced only by a complete one."""
    import matplotlib

    matplotlib.use("Agg")   # no display needed, and no GUI toolkit imported
    from .html import render

    out = Path(out)
    text = render(build(dirs, out, metric, baseline, argv, paired, sesoi))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, text)
    return out
