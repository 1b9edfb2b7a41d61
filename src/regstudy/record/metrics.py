"""metrics.json and history.csv: the machine-readable record of one run.

The record is rewritten (atomically) at the start, after every epoch and at the end,
so `status` always tells a finished run from a killed one: running, completed,
diverged or failed.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from .files import atomic_write_json, atomic_write_text

METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"


class RunRecord:
    def __init__(self, run_dir: Path, meta: Dict[str, Any], earlier_s: float = 0.0) -> None:
        """`earlier_s`: wall time spent before a resume, so `wall_time_s` counts the whole run."""
        self.run_dir = Path(run_dir)
        self.start = time.time() - earlier_s
        self.data: Dict[str, Any] = {"status": "running", "history": [], **meta}
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
