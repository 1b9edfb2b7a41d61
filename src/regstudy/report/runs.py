"""Find every run under some directories and load it as one row of a pandas DataFrame.

Every run becomes a row whatever its status: completed, diverged, failed, still `running`
(or killed: the record is rewritten each epoch, so a killed job stays `running`), `missing`
(Hydra made the job directory but the job died before its first record) or `unreadable`.
A table over seeds must never drop a run silently.
Torch-free, so `regstudy table` starts quickly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, Iterable, List

import pandas as pd

from ..record.run_record import (
    METRICS_FILE,
    MISSING,
    OVERRIDES_FILE,
    PLAN_FILE,
    RunRecord,
    hydra_overrides,
    override_key,
    override_value,
    read_plan,
)

# Metrics `regstudy table --metric` can summarise: column name -> how to read it from a record.
METRICS = ("test_error", "test_acc", "best_val_acc", "gap", "epochs", "time", "zsq")

# Override keys that never change what a run computes (besides the seed, which the table
# aggregates over): paths, device choice and display options.
IGNORED_KEYS = frozenset({"seed", "dataset.root", "dataset.download", "trainer.device",
                          "trainer.progress", "trainer.log_every_n_steps",
                          "trainer.eval_batch_size", "trainer.num_workers"})
IGNORED_PREFIXES = ("hydra.", "hydra/")


class NoRunsError(FileNotFoundError):
    """No metrics.json under the directories given (message names them)."""


def _natural_key(path: Path) -> List[Any]:
    """Sort run directories as 0, 1, 2, ..., 10 rather than 0, 1, 10, 2."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def find_runs(dirs: Iterable[Path]) -> List[Path]:
    """Every run directory at or below each directory, in natural order, without duplicates.

    A run directory holds a metrics.json, or only Hydra's `.hydra/overrides.yaml` when the
    job died before its first record; both kinds are returned."""
    found: Dict[Path, None] = {}
    missing = []
    for d in map(Path, dirs):
        if not d.is_dir():
            missing.append(str(d))
            continue
        hits = [p.parent for p in d.rglob(METRICS_FILE)]
        hits += [p.parent.parent for p in d.rglob(OVERRIDES_FILE)]
        for run_dir in sorted(set(hits), key=_natural_key):
            found.setdefault(run_dir.resolve(), None)
    if missing:
        raise NoRunsError(f"no such directory: {', '.join(missing)}")
    if not found:
        raise NoRunsError(f"no run ({METRICS_FILE}) under {', '.join(map(str, dirs))}")
    return list(found)


def parse_overrides(overrides: Iterable[str]) -> Dict[str, str]:
    """Hydra task overrides as key -> value, leaving out keys that do not change results."""
    out: Dict[str, str] = {}
    for ov in overrides:
        key = override_key(ov)
        if key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES):
            continue
        out[key] = override_value(ov)
    return out


def _selected_train_acc(record: RunRecord) -> float | None:
    """Training accuracy of the epoch whose weights were selected (best on validation)."""
    best = record.get("best_epoch")
    row = next((r for r in record.history if r.get("epoch") == best), None)
    return None if row is None else row.get("train_acc")


def _final_zsq(record: RunRecord) -> float | None:
    """<z^2> on validation at the last epoch (mean over activation sites and the logits)."""
    last = (record.history or [{}])[-1]
    return last.get("zsq_val/mean", last.get("zsq/mean"))


def metric_values(record: RunRecord) -> Dict[str, float | None]:
    """The selectable metrics of one record (None where the run did not produce them)."""
    train_acc, test_acc = _selected_train_acc(record), record.get("test_acc")
    return {
        "test_error": record.get("test_error"),
        "test_acc": test_acc,
        "best_val_acc": record.get("best_val_acc"),
        # train-test gap of the selected model: training accuracy minus test accuracy
        "gap": None if train_acc is None or test_acc is None else train_acc - test_acc,
        "epochs": record.get("epochs_run"),
        "time": record.get("wall_time_s"),
        "zsq": _final_zsq(record),
    }


def run_row(run_dir: Path) -> Dict[str, Any]:
    """One table row for the run in `run_dir`. `overrides` is None when nothing says what the
    run was (no readable record and no Hydra overrides file)."""
    record = RunRecord.load(run_dir)
    if not record.readable:
        overrides = hydra_overrides(run_dir)
        absent = record.status == MISSING
        return {"run_dir": str(run_dir), "status": record.status,
                "seed": _seed(overrides or []),
                "overrides": None if overrides is None else parse_overrides(overrides),
                "note": f"no {METRICS_FILE}: the job is starting, or stopped before its first "
                        "record (see its train.log)" if absent else record.problem,
                **dict.fromkeys(METRICS)}
    return {"run_dir": str(run_dir), "status": record.status, "seed": record.seed,
            "overrides": parse_overrides(record.overrides), "note": record.note(),
            **metric_values(record)}


def _seed(overrides: List[str]) -> int | None:
    seeds = [override_value(o) for o in overrides if override_key(o) == "seed" and "=" in o]
    return int(seeds[0]) if seeds and seeds[0].lstrip("-").isdigit() else None


def absent_jobs(dirs: Iterable[Path]) -> List[Dict[str, Any]]:
    """Rows for jobs a sweep plan lists whose directory does not exist."""
    rows = []
    for plan in (p for d in map(Path, dirs) for p in sorted(d.rglob(PLAN_FILE), key=_natural_key)):
        for job in read_plan(plan.parent) or []:
            run_dir = plan.parent / job["subdir"]
            if not run_dir.exists():
                rows.append({"run_dir": str(run_dir.resolve()), "status": "missing",
                             "seed": _seed(job["overrides"]),
                             "overrides": parse_overrides(job["overrides"]),
                             "note": "no run directory: not started yet, or stopped on a config "
                                     "or data error", **dict.fromkeys(METRICS)})
    return rows


def load_runs(dirs: Iterable[Path]) -> pd.DataFrame:
    """One row per run under `dirs`, and per planned sweep job without a directory: run_dir,
    status, seed, overrides (dict, or None when unknown), note, and one column per
    selectable metric (NaN where the run produced none)."""
    dirs = list(dirs)
    frame = pd.DataFrame([run_row(d) for d in find_runs(dirs)] + absent_jobs(dirs))
    frame[list(METRICS)] = frame[list(METRICS)].astype(float)
    return frame
