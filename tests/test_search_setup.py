"""What a search sets up before its first trial: the study storage (workers that start together
on a fresh SQLite file all get it) and the sampler (a note when TPE never leaves its random
start-up).

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


@pytest.mark.slow
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


def test_a_search_no_longer_than_tpes_start_up_is_called_random():
    """TPE samples its first n_startup_trials (Optuna's default: 10) at random; the sweeper says
    so when the whole search fits in that phase, and is quiet when the model gets to work."""
    from regstudy.search.algorithms import random_start_note

    note = random_start_note("tpe", {}, 8)
    assert note and "n_trials=8" in note and "10 random start-up" in note
    assert random_start_note("tpe", {}, 11) is None
    assert random_start_note("tpe", {"n_startup_trials": 3}, 8) is None
    assert "3 random" in random_start_note("tpe", {"n_startup_trials": 3}, 3)
    assert random_start_note("random", {}, 8) is None
