"""queue/checkpoint.py: the WAL is copied into the database file by a thread and connection
of its own, so a commit (the receiver's event loop, a dispatcher thread) does not checkpoint and
sync under load; what was committed stays readable throughout."""

from __future__ import annotations

import os
import sqlite3
import time

from fluxnotify.queue.checkpoint import Checkpointer
from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue


def test_the_wal_reaches_the_database_file_in_the_background(tmp_path):
    path = str(tmp_path / "q.db")
    db = SqliteDatabase(path, autocheckpoint=Checkpointer.FALLBACK_PAGES)
    queue = SqliteQueue(db, "events")
    size = os.path.getsize(path)
    for i in range(300):
        queue.send("x" * 1000 + str(i))
    assert os.path.getsize(path) == size  # the commits did not checkpoint: all in the WAL
    checkpointer = Checkpointer(path, every=0.01).start()
    try:
        deadline = time.monotonic() + 10
        while os.path.getsize(path) <= size + 200_000 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        checkpointer.stop()
    assert os.path.getsize(path) > size + 200_000
    reader = sqlite3.connect(path)
    assert reader.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 300
    reader.close()


def test_without_a_fallback_setting_sqlite_checkpoints_at_commit(tmp_path):
    path = str(tmp_path / "q.db")
    queue = SqliteQueue(SqliteDatabase(path), "events")
    size = os.path.getsize(path)
    for i in range(300):
        queue.send("x" * 1000 + str(i))
    assert os.path.getsize(path) > size  # SQLite's 1000-page default (the other commands' databases)
