"""Open a study storage from a URL: any SQLAlchemy URL, or Optuna's journal file.

`journal:///abs/path.log` or any path ending `.log` is a JournalStorage on a file (works on
shared filesystems without a server); everything else goes to RDBStorage, with heartbeats so
a trial whose process was killed is found and failed.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
import warnings
from pathlib import Path
from typing import Iterator, Optional

from .errors import SearchError

JOURNAL_PREFIX = "journal://"


def default_url(sweep_dir: Path) -> str:
    return f"sqlite:///{Path(sweep_dir).absolute() / 'optuna.db'}"


def journal_path(url: str) -> Optional[Path]:
    if url.startswith(JOURNAL_PREFIX):
        return Path(url[len(JOURNAL_PREFIX):])
    if "://" not in url and url.endswith(".log"):
        return Path(url)
    return None


# Errors of two workers creating the same fresh database's tables at once (a server database;
# SQLite files are opened under a lock instead): retried.
RACES = ("already exists", "duplicate key", "unique constraint", "database is locked")


def open_storage(url: str, heartbeat_interval: Optional[int] = None,
                 grace_period: Optional[int] = None, attempts: int = 5):
    """The storage behind `url`; SearchError (one line) when it cannot be opened."""
    for attempt in range(attempts):
        try:
            return _open(url, heartbeat_interval, grace_period)
        except SearchError as err:
            if attempt == attempts - 1 or not any(r in str(err).lower() for r in RACES):
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _open(url: str, heartbeat_interval: Optional[int], grace_period: Optional[int]):
    import optuna

    path = journal_path(url)
    try:
        if path is not None:
            from optuna.storages.journal import JournalFileBackend

            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
        with _creation_lock(url), warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=heartbeat_interval,
                grace_period=grace_period)
    except Exception as err:  # sqlalchemy, driver and OS errors alike: the user fixes the URL
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SearchError(f"hydra.sweeper.storage={url}: cannot open the storage "
                          f"({type(err).__name__}: {first})") from err


@contextlib.contextmanager
def _creation_lock(url: str) -> Iterator[None]:
    """Hold `<database>.lock` while opening a SQLite file.

    RDBStorage creates the tables and stamps the schema version when it opens a fresh database;
    two workers doing that at once (an array job's tasks start together) fail with "table
    already exists" or a UNIQUE constraint on the version row, so the first one creates and the
    others then find the tables there. Server URLs need no lock (their races are retried)."""
    if not url.startswith("sqlite:///"):
        yield
        return
    db = Path(url[len("sqlite:///"):])
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
