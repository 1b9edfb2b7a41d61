"""bench.search_slots's reading of a finished search: trials finished, epochs, the time from
the first trial's start to the last one's end, and slot use (trial seconds / (jobs x that))."""

from __future__ import annotations

import json

import pytest

from bench.search_slots import trials


def test_slot_use_from_run_records(tmp_path):
    (tmp_path / "search.json").write_text(json.dumps({
        "counts": {"complete": 1, "pruned": 2, "failed": 0, "diverged": 0},
        "best": {"value": 0.9}}))
    runs = [("2026-01-01T10:00:00+0000", 40.0, 4), ("2026-01-01T10:00:00+0000", 10.0, 1),
            ("2026-01-01T10:00:12+0000", 8.0, 1)]
    for n, (start, wall, epochs) in enumerate(runs):
        (tmp_path / str(n)).mkdir()
        (tmp_path / str(n) / "metrics.json").write_text(json.dumps(
            {"started_at": start, "wall_time_s": wall, "epochs_run": epochs}))
    (tmp_path / "table.md").write_text("not a trial")
    got = trials(tmp_path, wall=50.0, jobs=2)
    assert got["finished"] == 3 and got["epochs"] == 6 and got["best_value"] == 0.9
    assert got["trials_span_s"] == pytest.approx(40.0)       # 10:00:00 .. 10:00:40
    assert got["slot_use"] == pytest.approx(58.0 / (2 * 40.0))
