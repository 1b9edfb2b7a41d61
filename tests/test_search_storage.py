"""Opening a study storage: workers that start together on a fresh SQLite file all get it.

CI once failed here: two `regstudy train -m` workers opened a new shared.db in the same second
and one of them stopped with "UNIQUE constraint failed: alembic_version.version_num"."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import pytest

from regstudy.search.errors import SearchError
from regstudy.search.storage import open_storage

WORKERS = 3
ROUNDS = 5


def open_after(barrier, url: str, results) -> None:
    """One worker: wait for the others, then open the storage and make a study in it."""
    import optuna

    barrier.wait()
    try:
        storage = open_storage(url, heartbeat_interval=60, grace_period=120)
        optuna.create_study(study_name="s", storage=storage, load_if_exists=True)
        results.put("ok")
    except SearchError as err:
        results.put(str(err))


def test_workers_opening_a_fresh_sqlite_file_at_once_all_succeed(tmp_path):
    ctx = mp.get_context("fork")   # optuna is imported once, so the workers start together
    outcomes = []
    for round_ in range(ROUNDS):
        url = f"sqlite:///{tmp_path / f'r{round_}' / 'shared.db'}"
        barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
        procs = [ctx.Process(target=open_after, args=(barrier, url, results))
                 for _ in range(WORKERS)]
        for p in procs:
            p.start()
        outcomes += [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
    assert outcomes == ["ok"] * WORKERS * ROUNDS, [o for o in outcomes if o != "ok"]


def test_a_sqlite_file_in_an_unwritable_place_is_one_line(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    with pytest.raises(SearchError, match="cannot open the storage"):
        open_storage(f"sqlite:///{blocked / 'x.db'}")
    assert Path(blocked).read_text() == "not a directory"
