"""Several search processes on one storage, a killed search resumed, and PostgreSQL.

Workers are real `regstudy train -m` processes sharing a study through SQLite, Optuna's
journal file, or a PostgreSQL server this module starts with Debian's binaries."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from glob import glob
from pathlib import Path

import pytest

from .conftest import free_port, read_metrics, run_cli
from .search_helpers import load_study, popen_search, records, search

pytestmark = pytest.mark.slow   # real trainings in several processes


def two_workers(tmp_path: Path, data_root: Path, storage: str, n_trials: int = 4) -> None:
    """Two concurrent searches on `storage` (each with its own sweep dir), then the checks:
    unique trial numbers, every trial finished and stored with the value its run recorded."""
    from optuna.trial import TrialState

    dirs = [tmp_path / "w0", tmp_path / "w1"]
    procs = [popen_search(d, data_root, f"hydra.sweeper.storage={storage}", "hydra.sweeper.seed=" + s,
                          n_trials=n_trials, log=tmp_path / f"w{s}.log")
             for d, s in zip(dirs, "01")]
    codes = [p.wait(timeout=600) for p in procs]
    assert codes == [0, 0], [(tmp_path / f"w{s}.log").read_text()[-2000:] for s in "01"]
    trials = load_study(storage).get_trials()
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) >= n_trials
    assert all(t.state == TrialState.COMPLETE for t in trials)
    recs = {**records(dirs[0]), **records(dirs[1])}
    assert sorted(recs) == sorted(numbers)                 # every trial ran once, in one worker
    assert all(recs[t.number]["best_val_acc"] == t.value for t in trials)
    assert all(records(d) for d in dirs)                   # both workers ran trials


def test_two_workers_share_a_sqlite_study(tmp_path, data_root):
    two_workers(tmp_path, data_root, f"sqlite:///{tmp_path / 'shared.db'}")


def test_two_workers_share_a_journal_file(tmp_path, data_root):
    two_workers(tmp_path, data_root, f"journal://{tmp_path / 'journal.log'}")


def test_killed_search_resumes_to_n_trials(tmp_path, data_root):
    """kill -9 during trial 1; the re-run fails trial 1 (its process is gone), runs its slot
    again and ends with 3 finished trials; the killed run shows as failed in the table."""
    from optuna.trial import TrialState

    sweep_dir = tmp_path / "killed"
    slow = ["trainer.epochs=4", "dataset.subset=1000"]
    proc = popen_search(sweep_dir, data_root, *slow, n_trials=3, log=tmp_path / "first.log")
    deadline = time.monotonic() + 300
    while not (sweep_dir / "1" / "history.csv").exists():   # trial 1 finished an epoch
        assert proc.poll() is None and time.monotonic() < deadline, \
            (tmp_path / "first.log").read_text()[-2000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert read_metrics(sweep_dir / "1")["status"] == "running"
    out = search(sweep_dir, data_root, *slow, n_trials=3)
    assert out.returncode == 0, out.stderr[-3000:]
    trials = {t.number: t for t in load_study(f"sqlite:///{sweep_dir / 'optuna.db'}").get_trials()}
    assert trials[1].state == TrialState.FAIL
    complete = [n for n, t in trials.items() if t.state == TrialState.COMPLETE]
    assert len(complete) == 3 and 1 not in complete
    summary = json.loads((sweep_dir / "search.json").read_text())
    assert summary["counts"]["complete"] == 3 and summary["counts"]["failed"] == 1
    table = run_cli(["table", str(sweep_dir), "--csv"]).stdout
    assert sum(",failed," in line for line in table.splitlines()) == 1
    record = read_metrics(sweep_dir / "1")   # as the study says: failed, with its sampled value
    assert record["status"] == "failed"
    assert record["search"]["params"] == trials[1].params
    import io

    import pandas as pd

    frame = pd.read_csv(io.StringIO(table)).set_index("trial")
    assert frame.loc[1, "reg.l2.strength"] == pytest.approx(trials[1].params["reg.l2.strength"],
                                                            rel=1e-3)


# ---------------------------------------------------------------- PostgreSQL

@pytest.fixture(scope="module")
def postgres_url():
    """A throw-away PostgreSQL server on a free loopback port, run as user postgres
    (the server refuses root), in a temporary directory removed afterwards."""
    bins = sorted(glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql "
                    "(apt-get install postgresql; .ci/run does it)")
    pytest.importorskip("psycopg2", reason="psycopg2 missing: pip install 'regstudy[postgres]'")
    bindir = Path(bins[-1]).parent
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="regstudy-pg-"))
    if as_pg:
        shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                    "postgres"], check=True, capture_output=True)
    subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                    "-w", "-o", f"-p {port} -k {root} -h 127.0.0.1", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def test_two_workers_share_a_postgresql_study(tmp_path, data_root, postgres_url):
    two_workers(tmp_path, data_root, postgres_url)
