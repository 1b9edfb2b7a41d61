"""`regstudy table DIR` on an Optuna search directory: trials ranked by the search objective.

A search directory holds search.json (written at the end) or, while the search runs, the
multirun.yaml of the Optuna sweeper. Each trial is a run directory whose metrics.json names
its trial number; pruned trials are listed as pruned, not failed. Torch- and optuna-free.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import pandas as pd

from .runs import find_runs

SEARCH_FILE = "search.json"
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
    try:
        return json.loads((d / SEARCH_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _trial_row(run_dir: Path, states: Dict[int, str]) -> Optional[Dict[str, Any]]:
    try:
        record = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    search = (record.get("config") or {}).get("search") or {}
    if search.get("trial") is None:
        return None
    number = int(search["trial"])
    status = record.get("status", "unknown")
    if status == "running" and states.get(number) == "fail":
        status = "failed"         # its process was killed; the study failed it
    info = record.get("search") or {}
    return {"trial": number, "status": status, "objective": search.get("objective"),
            "direction": search.get("direction"), "record": record,
            "params": info.get("params") or {}, "run_dir": str(run_dir),
            "note": record.get("stop_reason") or str(record.get("error") or "").split("\n")[0]}


def search_frame(dirs: Iterable[Path]) -> pd.DataFrame:
    """One row per trial run: rank (completed trials by the objective), trial, status, value,
    epochs, sampled parameters, note."""
    from ..search.objective import OBJECTIVES, record_value

    dirs = [Path(d) for d in dirs]
    states = {t["number"]: t["state"] for d in dirs for t in _summary(d).get("trials", [])}
    rows = [r for r in (_trial_row(p, states) for p in find_runs(dirs)) if r is not None]
    if not rows:
        return pd.DataFrame(columns=["rank", "trial", "status"])
    objective = OBJECTIVES[rows[0]["objective"] or "best_val_acc"]
    maximize = (rows[0]["direction"] or objective.direction) == "maximize"
    out: List[Dict[str, Any]] = []
    for r in rows:
        value = record_value(objective, r["record"])
        out.append({"trial": r["trial"], "status": r["status"], objective.name: value,
                    "epochs": r["record"].get("epochs_run", len(r["record"].get("history", []))),
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
    """The ranked trial table as markdown, csv or latex; `top` keeps the first K rows."""
    frame = search_frame(dirs)
    if top is not None:
        frame = frame.head(top)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "latex":
        return frame.style.hide(axis="index").format(escape="latex", precision=6).to_latex(
            hrules=True)
    counts = frame["status"].value_counts().to_dict()
    line = ", ".join(f"{n} {s}" for s, n in counts.items())
    return frame.to_markdown(index=False) + f"\n\ntrials shown: {len(frame)} ({line})\n"
