"""One `fluxnotify serve` per database: an exclusive lock on ``<db>.lock`` for serve's lifetime.

SQLite lets two programs share a file, but two serves on one queue would both claim "their"
crashed messages back, and ``--reset-db`` would delete a database that another stack is
using. The lock is an advisory ``flock`` (released by the kernel when the process dies, even
by kill -9, so a stale lock file never blocks a restart); the file holds the owner's pid for
the error message. The child dispatcher process does not inherit it (Popen closes fds).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

DB_FILES = ("", "-wal", "-shm")


class DatabaseBusy(Exception):
    """Another serve holds the database."""


class DatabaseLock:
    def __init__(self, database: str):
        self.path = f"{database}.lock"
        self.database = database
        self._fd: int | None = None

    def acquire(self) -> DatabaseLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_pid(fd)
            os.close(fd)
            who = f" (pid {owner})" if owner else ""
            raise DatabaseBusy(f"{self.database} is in use by another fluxnotify serve{who}: "
                               "stop it, or give this one another --db") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # the file stays: removing it would race with the next owner
            self._fd = None


def reset_database(database: str) -> None:
    """Delete the database and its journal files (only ever under the lock)."""
    for suffix in DB_FILES:
        Path(database + suffix).unlink(missing_ok=True)


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
