"""`regstudy table DIR` on an Optuna search directory: trials ranked by the search objective.

A search directory holds search.json (written at the end) or, while the search runs, the
multirun.yaml of the Optuna sweeper. Each trial is a run directory whose metrics.json names
its trial number; pruned trials are listed as pruned, not failed. Torch- and optuna-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import pandas as pd

from ..record.run_record import SEARCH_FILE, RunRecord, read_search
from .runs import find_runs

SWEEPER_MARK = "regstudy_search.optuna_sweeper"
# Order of statuses under the ranked (completed) trials.
STATUS_ORDER = {"completed": 0, "pruned": 1, "diverged": 2, "failed": 3, "running": 4}


def is_search_dir(dirs: Iterable[Path]) -> bool:
    """True when every directory is an Optuna search's sweep directory."""
    dirs = [Path(d) for d in dirs]
    return bool(dirs) and all((d / SEARCH_FILE).is_file() or _sweeper_is_optuna(d) for d in dirs)


def _sweeper_is_optuna(d: Path) -> bool:
    try:
        return SWEEPER_MARK in (d / "multirun.yaml").read_text()
    except OSError:
        return False


def _summary(d: Path) -> Dict[str, Any]:
    return read_search(d) or {}


def _trial_row(run_dir: Path, states: Dict[int, str]) -> Optional[Dict[str, Any]]:
    loaded = RunRecord.read(run_dir)
    if loaded is None:
        return None
    record = loaded.data
    search = loaded.config.get("search") or {}
    if search.get("trial") is None:
        return None
    number = int(search["trial"])
    status = loaded.status
    if status == "running" and states.get(number) == "fail":
        status = "failed"         # its process was killed; the study failed it
    info = record.get("search") or {}
    return {"trial": number, "status": status, "objective": search.get("objective"),
            "direction": search.get("direction"), "record": record,
            "params": info.get("params") or {}, "run_dir": str(run_dir),
            "note": record.get("stop_reason") or str(record.get("error") or "").split("\n")[0]}


def _trials_without_run(dirs: List[Path], seen: set) -> List[Dict[str, Any]]:
    """Trials search.json lists that left no run record (e.g. a sampled value the config
    check refused): shown as failed with the reason, never dropped."""
    rows = []
    for d in dirs:
        summary = _summary(d)
        for t in summary.get("trials", []):
            if t["number"] in seen or t["state"] == "running":
                continue
            rows.append({"trial": t["number"], "status": t.get("run_status") or "failed",
                         "objective": summary.get("objective"),
                         "direction": summary.get("direction"), "record": {},
                         "params": t.get("params") or {}, "run_dir": t.get("run_dir"),
                         "note": t.get("error") or "no run record"})
    return rows


def _multi(dirs: List[Path]) -> Optional[List[tuple]]:
    """(objective, direction) pairs of a multi-objective search (search.json), else None."""
    summary = _summary(dirs[0])
    names = summary.get("objective")
    if not isinstance(names, list) or len(names) < 2:
        return None
    return list(zip(names, summary.get("direction") or ["minimize"] * len(names)))


def pareto_frame(dirs: List[Path], rows: List[Dict[str, Any]], pairs: List[tuple]) -> pd.DataFrame:
    """A multi-objective search: the Pareto-optimal trials first (rank `front`, by the first
    objective), then the other completed trials, then the rest; one column per objective."""
    from ..search.objective import OBJECTIVES, record_value

    front = {t["number"] for d in dirs for t in _summary(d).get("pareto_front") or []}
    out = []
    for r in rows:
        values = {n: record_value(OBJECTIVES[n], r["record"]) for n, _ in pairs}
        out.append({"trial": r["trial"], "status": r["status"], **values,
                    "epochs": r["record"].get("epochs_run", len(r["record"].get("history") or [])),
                    **r["params"], "note": r["note"]})
    frame = pd.DataFrame(out)
    first, direction = pairs[0]
    frame["_front"] = [0 if t in front and s == "completed" else 1
                       for t, s in zip(frame["trial"], frame["status"])]
    frame["_order"] = frame["status"].map(STATUS_ORDER).fillna(9)
    frame["_value"] = frame[first].astype(float) * (-1 if direction == "maximize" else 1)
    frame = frame.sort_values(["_front", "_order", "_value", "trial"], na_position="last")
    frame.insert(0, "rank", ["front" if f == 0 else "-" for f in frame["_front"]])
    return frame.drop(columns=["_front", "_order", "_value"]).reset_index(drop=True)


def search_frame(dirs: Iterable[Path]) -> pd.DataFrame:
    """One row per trial run: rank (completed trials by the objective), trial, status, value,
    epochs, sampled parameters, note. A multi-objective search: see pareto_frame."""
    from ..search.objective import OBJECTIVES, record_value

    dirs = [Path(d) for d in dirs]
    states = {t["number"]: t["state"] for d in dirs for t in _summary(d).get("trials", [])}
    rows = [r for r in (_trial_row(p, states) for p in find_runs(dirs)) if r is not None]
    rows += _trials_without_run(dirs, {r["trial"] for r in rows})
    if not rows:
        return pd.DataFrame(columns=["rank", "trial", "status"])
    for r in rows:   # a sampled combination (a list) reads as it is written: [l2,dropout]
        r["params"] = {k: "[" + ",".join(map(str, v)) + "]" if isinstance(v, list) else v
                       for k, v in r["params"].items()}
    pairs = _multi(dirs)
    if pairs:
        return pareto_frame(dirs, rows, pairs)
    objective = OBJECTIVES[rows[0]["objective"] or "best_val_acc"]
    maximize = (rows[0]["direction"] or objective.direction) == "maximize"
    out: List[Dict[str, Any]] = []
    for r in rows:
        value = record_value(objective, r["record"])
        out.append({"trial": r["trial"], "status": r["status"], objective.name: value,
                    "epochs": r["record"].get("epochs_run", len(r["record"].get("history") or [])),
                    **r["params"], "note": r["note"]})
    frame = pd.DataFrame(out)
    frame["_order"] = frame["status"].map(STATUS_ORDER).fillna(9)
    frame["_value"] = frame[objective.name].astype(float) * (-1 if maximize else 1)
    frame = frame.sort_values(["_order", "_value", "trial"], na_position="last")
    frame = frame.drop(columns=["_order", "_value"]).reset_index(drop=True)
    ranked = frame["status"] == "completed"
    frame.insert(0, "rank", [str(i + 1) if ok else "-" for i, ok in enumerate(ranked)])
    return frame


def render_search(dirs: Iterable[Path], fmt: str = "markdown", top: Optional[int] = None) -> str:
    """The ranked trial table as markdown, csv or latex; `top` keeps the first K rows, and
    top=0 the best trial (a multi-objective search: its Pareto front)."""
    frame = search_frame(dirs)
    if top == 0:
        frame = frame[frame["rank"] == "front"] if (frame["rank"] == "front").any() \
            else frame.head(1)
    elif top is not None:
        frame = frame.head(top)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "latex":
        return frame.style.hide(axis="index").format(escape="latex", precision=6).to_latex(
            hrules=True)
    counts = frame["status"].value_counts().to_dict()
    line = ", ".join(f"{n} {s}" for s, n in counts.items())
    return frame.to_markdown(index=False) + f"\n\ntrials shown: {len(frame)} ({line})\n"
