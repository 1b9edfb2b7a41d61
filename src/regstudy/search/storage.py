"""Open a study storage from a URL: any SQLAlchemy URL, or Optuna's journal file.

`journal:///abs/path.log` or any path ending `.log` is a JournalStorage on a file (works on
shared filesystems without a server); everything else goes to RDBStorage, with heartbeats so
a trial whose process was killed is found and failed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

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


def open_storage(url: str, heartbeat_interval: Optional[int] = None,
                 grace_period: Optional[int] = None):
    """The storage behind `url`; SearchError (one line) when it cannot be opened."""
    import optuna

    path = journal_path(url)
    try:
        if path is not None:
            from optuna.storages.journal import JournalFileBackend

            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
        with warnings.catch_warnings():   # heartbeats are "experimental" in Optuna 4/5
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=heartbeat_interval,
                grace_period=grace_period)
    except Exception as err:  # sqlalchemy, driver and OS errors alike: the user fixes the URL
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SearchError(f"hydra.sweeper.storage={url}: cannot open the storage "
                          f"({type(err).__name__}: {first})") from err
