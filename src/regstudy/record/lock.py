"""One writer per run directory: a lock held for the run's whole life.

Two processes that reach the same run directory (the same sweep launched twice, a requeued
job whose old copy still runs, two search workers) would otherwise train it at once and
interleave checkpoints, events and logs. The first takes the lock; the second skips the run
with one line naming the holder, and a later re-launch picks the run up (finished: not
retrained; interrupted: resumed from its checkpoint).

Mechanism: `flock` on `run.lock` in the run directory, released by the kernel when the
holder exits or is killed. On filesystems without flock (some network filesystems) the lock
falls back to a lease file `run.lease` whose holder rewrites it every `HEARTBEAT_S` seconds;
a lease not renewed for `LEASE_S` seconds belongs to a dead process and is taken over.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import threading
import time
from pathlib import Path
from typing import Any, Dict, Optional

LOCK_FILE = "run.lock"
LEASE_FILE = "run.lease"
HEARTBEAT_S = 10.0
LEASE_S = 60.0
# flock failing with these means the filesystem does not support it: use a lease instead.
NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}
MECHANISMS = ("auto", "flock", "lease")


class RunLocked(RuntimeError):
    """Another live process holds the run directory; the message names it."""


def _holder() -> Dict[str, Any]:
    return {"pid": os.getpid(), "host": platform.node(), "since": time.time()}


def _describe(run_dir: Path, info: Dict[str, Any]) -> str:
    return (f"{run_dir} is being trained by PID {info.get('pid', '?')} on "
            f"{info.get('host', '?')}; skipped (run the same command again once it ends to "
            "pick it up)")


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


class RunLock:
    """`with RunLock(run_dir):` owns the directory or raises RunLocked.

    `mechanism` is `auto` (flock, else a lease where the filesystem has no flock), `flock`
    or `lease`; `used` says which one holds the lock."""

    def __init__(self, run_dir: Path, mechanism: str = "auto", heartbeat_s: float = HEARTBEAT_S,
                 lease_s: float = LEASE_S) -> None:
        if mechanism not in MECHANISMS:
            raise ValueError(f"lock mechanism {mechanism!r} is not one of {MECHANISMS}")
        self.run_dir, self.mechanism = Path(run_dir), mechanism
        self.heartbeat_s, self.lease_s = heartbeat_s, lease_s
        self.used: Optional[str] = None
        self._fd: Optional[int] = None
        self._token = ""
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.mechanism != "lease" and self._try_flock():
            self.used = "flock"
            return
        self._take_lease()
        self.used = "lease"

    def _try_flock(self) -> bool:
        """True when flock holds the lock; False when the filesystem has no flock (`auto`)."""
        import fcntl

        path = self.run_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLocked(_describe(self.run_dir, _read_json(path))) from None
            if err.errno in NO_FLOCK and self.mechanism == "auto":
                return False
            raise
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({**_holder(), "mechanism": "flock"}).encode())
        self._fd = fd
        return True

    def _take_lease(self) -> None:
        """Create the lease file exclusively, or take over one whose holder stopped renewing."""
        path = self.run_dir / LEASE_FILE
        self._token = f"{platform.node()}:{os.getpid()}:{time.time_ns()}"
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if not self._stale(path):
                    raise RunLocked(_describe(self.run_dir, _read_json(path))) from None
                path.unlink(missing_ok=True)   # the holder died without removing it
                continue
            with os.fdopen(fd, "w") as f:
                f.write(self._lease_text())
            break
        else:
            raise RunLocked(_describe(self.run_dir, _read_json(path)))
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew, name="run-lease", daemon=True)
        self._thread.start()

    def _lease_text(self) -> str:
        return json.dumps({**_holder(), "mechanism": "lease", "token": self._token,
                           "renewed": time.time()})

    def _stale(self, path: Path) -> bool:
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return True
        return age > self.lease_s

    def _renew(self) -> None:
        """Heartbeat: rewrite the lease while the run lives (atomically, so readers see JSON)."""
        path = self.run_dir / LEASE_FILE
        while not self._stop.wait(self.heartbeat_s):
            if _read_json(path).get("token") != self._token:
                return   # taken over (we were presumed dead): do not overwrite the new holder
            tmp = path.with_name(f".{LEASE_FILE}.{os.getpid()}.tmp")
            tmp.write_text(self._lease_text())
            os.replace(tmp, path)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)   # closing the only descriptor drops the flock
            self._fd = None
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            path = self.run_dir / LEASE_FILE
            if _read_json(path).get("token") == self._token:
                path.unlink(missing_ok=True)
        self.used = None
