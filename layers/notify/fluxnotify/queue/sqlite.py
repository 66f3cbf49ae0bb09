"""A durable queue in SQLite for the local stack: delays, visibility timeout, dead letters.

Messages stay in the table until deleted, so a crash between receive and delete
makes them visible again after the visibility timeout (at-least-once, like SQS).
Several named queues (``events``, ``dead``) share one database file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from fluxnotify.queue import MAX_DELAY_SECONDS

T = TypeVar("T")
POLL = 0.0002  # seconds between tries for the write lock
SQLITE_BUSY = 5

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    sent_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, visible_at);
"""


@dataclass(frozen=True)
class Message:
    id: str
    body: str
    receive_count: int


class DatabaseGone(sqlite3.OperationalError):
    """The database file was deleted or replaced under a running process."""


class SqliteDatabase:
    """One connection shared by threads behind a lock; WAL for durability with speed.

    Every write first checks that the path still names the file that was opened: writes
    into an unlinked file would be lost at the next start (DatabaseGone instead).
    """

    def __init__(self, path: str, busy_timeout: float = 5.0, autocheckpoint: int | None = None,
                 poll_lock: bool = False):
        """``autocheckpoint``: WAL pages after which a commit checkpoints (SQLite's default 1000);
        larger where a ``Checkpointer`` does it in the background. ``poll_lock``: wait for the
        write lock by trying every POLL seconds (``_polling``), not with SQLite's busy handler."""
        self.path = path
        self.busy_timeout = busy_timeout
        self.poll_lock = poll_lock
        self.connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                          timeout=busy_timeout)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        if autocheckpoint is not None:
            self.connection.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
        self.connection.executescript(_SCHEMA)
        self._identity = _file_identity(path)
        self.lock = threading.RLock()
        self.changed = threading.Condition()

    def execute(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.lock:
            if self.connection.in_transaction or sql.lstrip().upper().startswith("SELECT"):
                return self.connection.execute(sql, params).fetchall()
            self.check_file()
            return self._polling(lambda: self.connection.execute(sql, params).fetchall())

    def changes(self, sql: str, params: tuple = ()) -> int:
        """A write; the number of rows it changed."""
        with self.lock:
            if self.connection.in_transaction:
                return self.connection.execute(sql, params).rowcount
            self.check_file()
            return self._polling(lambda: self.connection.execute(sql, params).rowcount)

    def _polling(self, write: Callable[[], T]) -> T:
        """Run a statement that takes the write lock, trying again every POLL seconds while
        another connection holds it (up to the busy timeout). SQLite's own busy handler sleeps
        1, 2, 5, 10 … ms between tries and so seldom hits the short gaps between the group
        commits of a busy receiver: the dispatcher's writes waited milliseconds each."""
        if not self.poll_lock:
            return write()
        self.connection.execute("PRAGMA busy_timeout = 0")
        try:
            deadline = time.monotonic() + self.busy_timeout
            while True:
                try:
                    return write()
                except sqlite3.OperationalError as err:
                    if not _busy(err) or time.monotonic() >= deadline:
                        raise
                time.sleep(POLL)
        finally:
            self.connection.execute(f"PRAGMA busy_timeout = {round(self.busy_timeout * 1000)}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any error; an inner one is a savepoint, so
        its failure undoes only its own writes (one event of a group commit)."""
        with self.lock:
            if self.connection.in_transaction:
                yield from self._savepoint()
                return
            self.check_file()
            self._polling(lambda: self.connection.execute("BEGIN IMMEDIATE"))
            try:
                yield self.connection
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")

    def _savepoint(self) -> Iterator[sqlite3.Connection]:
        self.connection.execute("SAVEPOINT inner")
        try:
            yield self.connection
        except BaseException:
            self.connection.execute("ROLLBACK TO inner")
            self.connection.execute("RELEASE inner")
            raise
        self.connection.execute("RELEASE inner")

    def check_file(self) -> None:
        if _file_identity(self.path) != self._identity:
            raise DatabaseGone(f"{self.path} was deleted or replaced while in use")

    def probe_write(self) -> None:
        """Raise sqlite3.Error when the database cannot be written now (read-only, locked)."""
        with self.transaction():
            self.connection.execute("CREATE TABLE IF NOT EXISTS probe (x)")
            self.connection.execute("DROP TABLE probe")

    def close(self) -> None:
        with self.lock:
            self.connection.close()


def _busy(err: sqlite3.OperationalError) -> bool:
    code = getattr(err, "sqlite_errorcode", None)  # Python 3.11+
    return code & 0xFF == SQLITE_BUSY if code is not None else "locked" in str(err)


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


class SqliteQueue:
    def __init__(self, database: SqliteDatabase, name: str = "events"):
        self.db = database
        self.name = name

    def send(self, body: str, delay: int = 0) -> str:
        message_id = str(uuid.uuid4())
        now = time.time()
        delay = max(0, min(delay, MAX_DELAY_SECONDS))
        self.db.execute(
            "INSERT INTO messages (id, queue, body, visible_at, sent_at) VALUES (?, ?, ?, ?, ?)",
            (message_id, self.name, body, now + delay, now),
        )
        with self.db.changed:
            self.db.changed.notify_all()
        return message_id

    def receive(self, max_messages: int = 10, visibility_timeout: float = 60.0) -> list[Message]:
        """Claim up to max_messages visible messages, hiding them for visibility_timeout."""
        now = time.time()
        # A read first: an idle poll must not take the write lock the receiver needs.
        if not self.db.execute("SELECT 1 FROM messages WHERE queue = ? AND visible_at <= ? LIMIT 1",
                               (self.name, now)):
            return []
        with self.db.transaction() as cursor:
            rows = cursor.execute(
                "SELECT id, body, receive_count FROM messages WHERE queue = ? AND visible_at <= ?"
                " ORDER BY visible_at LIMIT ?",
                (self.name, now, max_messages),
            ).fetchall()
            cursor.executemany(
                "UPDATE messages SET visible_at = ?, receive_count = receive_count + 1 WHERE id = ?",
                [(now + visibility_timeout, row[0]) for row in rows],
            )
        return [Message(row[0], row[1], row[2] + 1) for row in rows]

    def release_claimed(self) -> int:
        """Make messages received but never deleted (a crashed consumer's) visible now.

        Delayed retries are new messages (receive_count 0), so they keep their delay.
        """
        with self.db.lock:
            cursor = self.db.connection.execute(
                "UPDATE messages SET visible_at = ? WHERE queue = ? AND receive_count > 0 AND visible_at > ?",
                (time.time(), self.name, time.time()),
            )
            return cursor.rowcount

    def release(self, message_ids: list[str]) -> None:
        """Hand claimed messages back unhandled: visible now, their receipt not counted."""
        rows = [(time.time(), message_id, self.name) for message_id in message_ids]
        with self.db.transaction() as connection:
            connection.executemany("UPDATE messages SET visible_at = ?, receive_count = MAX(receive_count - 1, 0)"
                                   " WHERE id = ? AND queue = ?", rows)
        with self.db.changed:
            self.db.changed.notify_all()

    def delete(self, message_id: str) -> None:
        self.db.execute("DELETE FROM messages WHERE id = ?", (message_id,))

    def delete_many(self, message_ids: list[str]) -> None:
        """One transaction for a whole batch: one commit instead of one per message."""
        if message_ids:
            with self.db.transaction() as connection:
                connection.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in message_ids])

    def wait(self, timeout: float) -> None:
        """Sleep until a send in this process or the timeout (other processes: polling)."""
        with self.db.changed:
            self.db.changed.wait(timeout)

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM messages WHERE queue = ?", (self.name,))[0][0]

    def due(self) -> int:
        """Messages visible now: waiting to be taken (not delayed, not being handled)."""
        return self.db.execute("SELECT COUNT(*) FROM messages WHERE queue = ? AND visible_at <= ?",
                               (self.name, time.time()))[0][0]

    def next_visible_in(self) -> float | None:
        row = self.db.execute("SELECT MIN(visible_at) FROM messages WHERE queue = ?", (self.name,))
        return None if row[0][0] is None else max(0.0, row[0][0] - time.time())

    def all(self) -> list[Message]:
        rows = self.db.execute(
            "SELECT id, body, receive_count FROM messages WHERE queue = ? ORDER BY sent_at",
            (self.name,),
        )
        return [Message(*row) for row in rows]

    def move_all_to(self, other: SqliteQueue) -> int:
        """Move every message to another queue, visible now (used by replay)."""
        with self.db.lock:
            cursor = self.db.connection.execute(
                "UPDATE messages SET queue = ?, visible_at = ?, receive_count = 0 WHERE queue = ?",
                (other.name, time.time(), self.name),
            )
            moved = cursor.rowcount
        with self.db.changed:
            self.db.changed.notify_all()
        return moved

    def move_to(self, other: SqliteQueue, ids: Iterable[str]) -> int:
        """Move the given messages to another queue, visible now (the status page's replay)."""
        rows = [(other.name, time.time(), message_id, self.name) for message_id in ids]
        with self.db.lock:
            before = self.db.connection.total_changes
            self.db.connection.executemany(
                "UPDATE messages SET queue = ?, visible_at = ?, receive_count = 0 WHERE id = ? AND queue = ?", rows)
            moved = self.db.connection.total_changes - before
        with self.db.changed:
            self.db.changed.notify_all()
        return moved
