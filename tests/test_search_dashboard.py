"""The optional dashboard (`pip install "regstudy[dashboard]"`): optuna-dashboard started on a
loopback port against a finished search's SQLite study serves its trials over HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import free_port
from .search_helpers import search

pytestmark = pytest.mark.slow   # a real search, then a server


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_dashboard_serves_a_finished_search(tmp_path, data_root):
    pytest.importorskip("optuna_dashboard", reason="pip install 'regstudy[dashboard]'")
    sweep_dir = tmp_path / "s"
    out = search(sweep_dir, data_root, n_trials=2)
    assert out.returncode == 0, out.stderr[-3000:]
    port = free_port()
    command = Path(sys.executable).parent / "optuna-dashboard"   # the extra's console script
    server = subprocess.Popen([str(command), f"sqlite:///{sweep_dir / 'optuna.db'}",
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                studies = get(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.5)
        assert [s["study_name"] for s in studies] == ["regstudy"]
        detail = get(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}?after=0")
        summary = json.loads((sweep_dir / "search.json").read_text())
        served = {t["number"]: t for t in detail["trials"]}
        assert sorted(served) == [t["number"] for t in summary["trials"]]
        for t in summary["trials"]:
            assert served[t["number"]]["values"] == [t["value"]]
            run_dir = {a["key"]: a["value"] for a in served[t["number"]]["user_attrs"]}["run_dir"]
            assert run_dir == t["run_dir"]
    finally:
        server.terminate()
        server.wait(timeout=30)
