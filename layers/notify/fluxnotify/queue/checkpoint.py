"""WAL checkpoints for serve's SQLite file, off the hot paths (queue/sqlite.py)."""

from __future__ import annotations

import sqlite3
import threading


class Checkpointer:
    """Copies the WAL into the database file from a thread and connection of its own.

    A checkpoint syncs the WAL and the database file (synchronous=NORMAL), milliseconds each;
    done by a committing connection it would stall the receiver's event loop or a dispatcher
    thread several times a second under load. A PASSIVE checkpoint takes no lock that writers
    or readers wait for; the connections keep a larger ``autocheckpoint`` as a fallback.
    """

    FALLBACK_PAGES = 10_000  # ~40 MB of WAL: only when this thread cannot keep up

    def __init__(self, path: str, every: float = 0.25):
        self.connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)

    def start(self) -> Checkpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.connection.close()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                pass  # the file is gone or busy: the next round, or the fallback, does it
