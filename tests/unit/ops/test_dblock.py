"""ops/dblock.py: one serve per database; the reset happens only under the lock."""

from __future__ import annotations

import os

import pytest

from fluxnotify.ops.dblock import DatabaseBusy, DatabaseLock, reset_database


def test_a_second_lock_is_refused_naming_the_owner_then_free_after_release(tmp_path):
    db = str(tmp_path / "q.db")
    first = DatabaseLock(db).acquire()
    with pytest.raises(DatabaseBusy, match=rf"q\.db is in use by another fluxnotify serve \(pid {os.getpid()}\)"):
        DatabaseLock(db).acquire()
    first.release()
    DatabaseLock(db).acquire().release()


def test_reset_deletes_the_database_and_its_journals(tmp_path):
    db = tmp_path / "q.db"
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"q.db{suffix}").write_text("x")
    (tmp_path / "other.db").write_text("x")
    reset_database(str(db))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]
