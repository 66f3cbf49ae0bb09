"""queue/sqlite.py ``poll_lock`` (serve's dispatcher process): the write lock is taken by trying
again every 0.2 ms, so a write goes in within moments of another connection's commit instead
of after SQLite's busy handler's next sleep (1, 2, 5, 10 … ms); past the busy timeout it
still fails with "database is locked", and an error that is not a busy lock is not retried."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue


def hold_write_lock(path: str, seconds: float) -> threading.Thread:
    """Another connection (another process, as far as SQLite knows) holds the write lock."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    released = threading.Event()

    def release() -> None:
        time.sleep(seconds)
        other.execute("COMMIT")
        released.at = time.monotonic()  # type: ignore[attr-defined]
        released.set()
        other.close()

    thread = threading.Thread(target=release, daemon=True)
    thread.released = released  # type: ignore[attr-defined]
    thread.start()
    return thread


@pytest.mark.parametrize("write", ["execute", "changes", "transaction"])
def test_a_polling_write_goes_in_right_after_the_lock_is_released(tmp_path, write):
    path = str(tmp_path / "q.db")
    db = SqliteDatabase(path, busy_timeout=5.0, poll_lock=True)
    db.execute("CREATE TABLE t (x)")
    holder = hold_write_lock(path, 0.3)
    started = time.monotonic()
    if write == "execute":
        db.execute("INSERT INTO t VALUES (1)")
    elif write == "changes":
        assert db.changes("INSERT INTO t VALUES (1)") == 1
    else:
        with db.transaction() as connection:
            connection.execute("INSERT INTO t VALUES (1)")
    done = time.monotonic()
    holder.join()
    assert done - started >= 0.29  # it did wait for the lock
    assert done - holder.released.at < 0.05  # and went in at once after it was released
    assert db.execute("SELECT COUNT(*) FROM t") == [(1,)]
    assert db.connection.execute("PRAGMA busy_timeout").fetchone() == (5000,)  # restored


def test_a_polling_write_gives_up_after_the_busy_timeout(tmp_path):
    path = str(tmp_path / "q.db")
    queue = SqliteQueue(SqliteDatabase(path, busy_timeout=0.2, poll_lock=True), "events")
    holder = hold_write_lock(path, 1.0)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        queue.send("body")
    assert 0.19 <= time.monotonic() - started < 0.9
    holder.join()
    assert queue.count() == 0


def test_other_errors_are_not_retried(tmp_path):
    db = SqliteDatabase(str(tmp_path / "q.db"), poll_lock=True)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        db.execute("INSERT INTO missing VALUES (1)")
    assert time.monotonic() - started < 0.5
