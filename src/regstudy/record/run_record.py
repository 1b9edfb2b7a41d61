"""The files of a run directory and a sweep directory, and the only code that reads or writes them.

A run directory holds `metrics.json` (the run's record: status, overrides, config, per-epoch
history and final metrics) and `history.csv`; a search's sweep directory holds `search.json`;
a sweep directory holds `sweep_plan.json` (its jobs, written before the first starts). Training
writes the record through `RecordWriter`, rewriting it atomically at the start, after every
epoch and at the end, so `status` always tells a finished run from a killed one. Every other
part of regstudy reads through `RunRecord.load`, which never raises: a missing or unreadable
record is a `RunRecord` whose status says so and whose `problem` says why. Records written by
earlier versions of regstudy (the same keys, any of them possibly absent) read the same way.

Torch-, pandas- and omegaconf-free: `regstudy table` and `import regstudy` read records too.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from .files import atomic_write_json, atomic_write_text

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
SEARCH_FILE = "search.json"       # an Optuna search's summary, written by its sweeper
PLAN_FILE = "sweep_plan.json"     # the jobs of a sweep, written before the first starts
OVERRIDES_FILE = ".hydra/overrides.yaml"   # written by Hydra before the job starts

# A run's status. `running` is also what a killed run leaves behind; `missing` and `unreadable`
# are never written: they say the record is absent or cannot be parsed.
RUNNING, COMPLETED, DIVERGED, PRUNED = "running", "completed", "diverged", "pruned"
FAILED, INTERRUPTED = "failed", "interrupted"
MISSING, UNREADABLE = "missing", "unreadable"
FINISHED = frozenset({COMPLETED, DIVERGED, PRUNED})   # statuses a re-launch does not retrain
STATUSES = (COMPLETED, DIVERGED, FAILED, PRUNED, INTERRUPTED, RUNNING, MISSING, UNREADABLE)

PathLike = Union[str, Path]


def override_key(override: str) -> str:
    """`+reg.l2.strength=1` -> `reg.l2.strength` (Hydra's +, ++ and ~ prefixes dropped)."""
    return override.split("=", 1)[0].lstrip("+~")


def override_value(override: str) -> str:
    """`+reg.l2.strength=1` -> `1`; "" for an override without a value (`~key`)."""
    return override.split("=", 1)[1] if "=" in override else ""


def split_overrides(overrides: Iterable[str]) -> Dict[str, str]:
    """Hydra overrides as key -> value, in order (a later one of the same key wins)."""
    return {override_key(ov): override_value(ov) for ov in overrides}


@dataclass
class RunRecord:
    """One run's record as read from its directory; `data` is metrics.json as stored.

    `problem` is "" when the record was read, else why not (then `status` is `missing` or
    `unreadable` and `data` is empty)."""

    run_dir: Path
    data: Dict[str, Any] = field(default_factory=dict)
    problem: str = ""

    @classmethod
    def load(cls, run_dir: PathLike) -> RunRecord:
        """The record in `run_dir`; never raises (see `problem`)."""
        run_dir = Path(run_dir)
        path = run_dir / METRICS_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return cls(run_dir, {}, f"no {METRICS_FILE}")
        except (OSError, ValueError) as err:
            return cls(run_dir, {}, f"{METRICS_FILE}: {type(err).__name__}: {err}")
        if not isinstance(data, dict):
            return cls(run_dir, {}, f"{METRICS_FILE}: not a run record")
        return cls(run_dir, data)

    @classmethod
    def read(cls, run_dir: PathLike) -> Optional[RunRecord]:
        """The record in `run_dir`, or None when it is missing or unreadable."""
        record = cls.load(run_dir)
        return record if record.readable else None

    @property
    def readable(self) -> bool:
        return not self.problem

    @property
    def status(self) -> str:
        """running, completed, diverged, pruned, failed, interrupted; `missing` or `unreadable`
        when there is no record to read; `unknown` for a record without one."""
        if self.problem:
            return MISSING if self.problem == f"no {METRICS_FILE}" else UNREADABLE
        return str(self.data.get("status", "unknown"))

    @property
    def finished(self) -> bool:
        """Whether the run ended for good (completed, diverged or pruned): no retraining."""
        return self.status in FINISHED

    @property
    def overrides(self) -> List[str]:
        """The command-line overrides the run was trained with (as Hydra passed them)."""
        return [str(o) for o in self.data.get("overrides") or []]

    @property
    def params(self) -> Dict[str, str]:
        """The overrides as key -> value."""
        return split_overrides(self.overrides)

    @property
    def history(self) -> List[Dict[str, Any]]:
        """One dict per finished epoch (losses, accuracies, diagnostics)."""
        return list(self.data.get("history") or [])

    @property
    def config(self) -> Dict[str, Any]:
        """The resolved configuration the run trained with ({} when not recorded)."""
        config = self.data.get("config")
        return config if isinstance(config, dict) else {}

    @property
    def metrics(self) -> Dict[str, Any]:
        """The record's scalar entries: final metrics, sizes, timings, status, seed."""
        return {k: v for k, v in self.data.items()
                if isinstance(v, (int, float, str, bool)) or v is None}

    @property
    def search(self) -> Dict[str, Any]:
        """Study name, trial number and sampled parameters of a search trial ({} otherwise)."""
        return self.data.get("search") or {}

    @property
    def seed(self) -> Optional[int]:
        return self.data.get("seed")

    def get(self, key: str, default: Any = None) -> Any:
        """A top-level entry of metrics.json (e.g. `test_acc`), or `default`."""
        return self.data.get(key, default)

    def note(self) -> str:
        """One line on why the run did not complete ("" for a completed run)."""
        status, data = self.status, self.data
        if self.problem:
            return self.problem
        if status == DIVERGED and data.get("diverged_at"):
            at = data["diverged_at"]
            return f"loss non-finite at epoch {at.get('epoch')} step {at.get('step')}"
        if status == FAILED:
            return str(data.get("error", "")).splitlines()[0] if data.get("error") else ""
        if status in (PRUNED, INTERRUPTED) and data.get("stop_reason"):
            return str(data["stop_reason"]).splitlines()[0]
        if status == RUNNING:
            return (f"no final record: still running or killed after {len(self.history)} "
                    "epoch(s)")
        return ""


def hydra_overrides(run_dir: PathLike) -> Optional[List[str]]:
    """The job's overrides as Hydra saved them (for runs whose record is missing or bad)."""
    path = Path(run_dir) / OVERRIDES_FILE
    if not path.is_file():
        return None
    import yaml  # PyYAML, a Hydra dependency; only needed for runs without a usable record

    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return [str(o) for o in loaded] if isinstance(loaded, list) else None


class RecordWriter:
    """Writes one run's metrics.json and history.csv while it trains (the only writer)."""

    def __init__(self, run_dir: Path, meta: Dict[str, Any], earlier_s: float = 0.0) -> None:
        """`earlier_s`: wall time spent before a resume, so `wall_time_s` counts the whole run."""
        self.run_dir = Path(run_dir)
        self.start = time.time() - earlier_s
        self.data: Dict[str, Any] = {"status": RUNNING, "history": [], **meta}
        self.flush()

    @property
    def history(self) -> List[Dict[str, Any]]:
        return self.data["history"]

    def add_epoch(self, row: Dict[str, Any]) -> None:
        self.history.append(row)
        self.data["wall_time_s"] = round(time.time() - self.start, 3)
        self.flush()

    def finish(self, status: str, error: Optional[str] = None, **fields: Any) -> None:
        self.data["status"] = status
        if error is not None:
            self.data["error"] = error
        self.data.update(fields)
        self.data["wall_time_s"] = round(time.time() - self.start, 3)
        self.flush()

    def flush(self) -> None:
        atomic_write_json(self.run_dir / METRICS_FILE, self.data)
        if self.history:
            atomic_write_text(self.run_dir / HISTORY_FILE, history_csv(self.history))

    def record(self) -> RunRecord:
        """What a reader of the directory would get now."""
        return RunRecord(self.run_dir, self.data)


def history_csv(rows: List[Dict[str, Any]]) -> str:
    """Flat per-epoch table; nested entries (per-site statistics) are left to metrics.json."""
    keys: List[str] = []
    for row in rows:
        keys += [k for k, v in row.items() if k not in keys and not isinstance(v, (dict, list))]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def annotate_trial(run_dir: PathLike, info: Dict[str, Any], failed: str = "") -> None:
    """Add `search` (study, trial number, params) to a trial's record, if it has one; with
    `failed` (the reason), a record the study counts as failed says so too, instead of the
    `running` or `interrupted` its killed run left."""
    record = RunRecord.read(run_dir)
    if record is None:
        return
    data = {**record.data, "search": info}
    if failed and record.status not in (FAILED, DIVERGED):
        data["error"] = data.get("error") or failed
        data["status"] = FAILED
    atomic_write_json(Path(run_dir) / METRICS_FILE, data)


def load_search(sweep_dir: PathLike) -> Tuple[Dict[str, Any], str]:
    """(search.json of the search in `sweep_dir`, "") or ({}, why it cannot be read)."""
    path = Path(sweep_dir) / SEARCH_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return {}, f"{path}: unreadable ({type(err).__name__}: {err})"
    if not isinstance(data, dict):
        return {}, f"{path}: unreadable (not a search summary)"
    return data, ""


def read_search(sweep_dir: PathLike) -> Optional[Dict[str, Any]]:
    """The search.json of a finished search in `sweep_dir`, or None when none is readable."""
    data, problem = load_search(sweep_dir)
    return None if problem else data


def write_search(sweep_dir: PathLike, summary: Dict[str, Any]) -> Path:
    path = Path(sweep_dir) / SEARCH_FILE
    atomic_write_json(path, summary)
    return path


def write_plan(sweep_dir: PathLike, jobs: List[List[str]]) -> Path:
    """The sweep's jobs (each its overrides), before the first starts: without the plan,
    `regstudy table` could not tell a job that left no directory (a config or data error, or
    not started yet on a cluster) from one never asked for."""
    path = Path(sweep_dir) / PLAN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"jobs": [{"num": i, "subdir": str(i), "overrides": ov}
                                         for i, ov in enumerate(jobs)]}, indent=1) + "\n")
    return path


def read_plan(sweep_dir: PathLike) -> Optional[List[Dict[str, Any]]]:
    """The jobs of the plan in `sweep_dir` (num, subdir, overrides); None without a readable one."""
    try:
        jobs = json.loads((Path(sweep_dir) / PLAN_FILE).read_text())["jobs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return jobs if isinstance(jobs, list) else None

