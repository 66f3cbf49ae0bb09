"""Digest windows in serve's SQLite file (state/digests.py): the tables ``digest_windows``,
``digest_events`` (the lines: at most MAX_ENTRIES a window), ``digest_seen`` (the window's
last RECENT_IDS to 2×RECENT_IDS message ids, as 64-bit hashes: a message redelivered after
more than RECENT_IDS later events of the same window would be counted again; serve
redelivers after its visibility timeout) and ``digest_sweeps``."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fluxnotify.state.digests_window import (
    KEEP_SECONDS,
    LEASE_SECONDS,
    MAX_ENTRIES,
    Entry,
    FlushBusy,
    Window,
    bounded,
    id_hash,
    message_key,
    swept,
    worst,
)

RECENT_IDS = 1000  # message ids remembered per generation (two generations)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS digest_windows (
    key TEXT NOT NULL, window TEXT PRIMARY KEY, state TEXT NOT NULL, alert TEXT NOT NULL,
    cluster TEXT NOT NULL, due REAL NOT NULL, count INTEGER NOT NULL, severity TEXT NOT NULL,
    base TEXT NOT NULL, opener TEXT NOT NULL, closed_at REAL);
CREATE INDEX IF NOT EXISTS digest_windows_open ON digest_windows (key, state);
CREATE TABLE IF NOT EXISTS digest_events (
    window TEXT NOT NULL, message_id TEXT NOT NULL, t TEXT NOT NULL, line TEXT NOT NULL,
    PRIMARY KEY (window, message_id));
CREATE TABLE IF NOT EXISTS digest_seen (
    window TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL, PRIMARY KEY (window, seq));
CREATE UNIQUE INDEX IF NOT EXISTS digest_seen_id ON digest_seen (window, id);
CREATE TABLE IF NOT EXISTS digest_sweeps (window TEXT PRIMARY KEY, due REAL NOT NULL);
"""


class SqliteDigests:
    def __init__(self, database: Any):
        self.db = database
        with self.db.lock:
            self.db.connection.executescript(_SCHEMA)

    def _transaction(self, work):
        with self.db.lock:
            connection = self.db.connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return result

    def add(self, entry: Entry, now: float | None = None) -> Window:
        now = time.time() if now is None else now
        entry, seen = bounded(entry), id_hash(entry.message_id)

        def work(db) -> str:
            row = db.execute("SELECT window, count, severity FROM digest_windows WHERE key = ? AND state = 'open'",
                             (entry.key,)).fetchone()
            if row is None:
                window, count, severity = uuid.uuid4().hex, 0, "trace"
                db.execute("INSERT INTO digest_windows VALUES (?, ?, 'open', ?, ?, ?, 0, 'trace', ?, ?, NULL)",
                           (entry.key, window, entry.alert, entry.cluster, now + entry.seconds,
                            json.dumps(entry.base, ensure_ascii=False), message_key(entry.message_id)))
                if swept(entry.seconds):
                    db.execute("INSERT INTO digest_sweeps VALUES (?, ?)", (window, now + entry.seconds))
            else:
                window, count, severity = row
            if db.execute("SELECT 1 FROM digest_seen WHERE window = ? AND id = ?", (window, seen)).fetchone():
                return window  # a redelivered message: counted once
            count += 1
            db.execute("INSERT INTO digest_seen VALUES (?, ?, ?)", (window, count, seen))
            db.execute("DELETE FROM digest_seen WHERE window = ? AND seq = ?", (window, count - 2 * RECENT_IDS))
            if count <= MAX_ENTRIES:
                db.execute("INSERT OR IGNORE INTO digest_events VALUES (?, ?, ?, ?)",
                           (window, seen, entry.timestamp, entry.line))
            db.execute("UPDATE digest_windows SET count = ?, severity = ? WHERE window = ?",
                       (count, worst(severity, entry.severity), window))
            return window

        return self._load(self._transaction(work), with_entries=False)  # add stays O(1) in big windows

    def close(self, key: str, window: str, now: float | None = None) -> Window | None:
        now = time.time() if now is None else now

        def work(db) -> bool:
            row = db.execute("SELECT state, closed_at FROM digest_windows WHERE window = ?", (window,)).fetchone()
            if row is None or row[0] == "sent":
                return False
            if row[0] == "closed" and now - row[1] < LEASE_SECONDS:
                raise FlushBusy(LEASE_SECONDS - (now - row[1]))
            db.execute("UPDATE digest_windows SET state = 'closed', closed_at = ? WHERE window = ?", (now, window))
            return True

        return self._load(window) if self._transaction(work) else None

    def release(self, key: str, window: str) -> None:
        self.db.execute("UPDATE digest_windows SET closed_at = 0 WHERE window = ? AND state = 'closed'", (window,))

    def mark_sent(self, key: str, window: str) -> None:
        self.db.execute("UPDATE digest_windows SET state = 'sent' WHERE window = ?", (window,))
        for table in ("digest_events", "digest_seen", "digest_sweeps"):
            self.db.execute(f"DELETE FROM {table} WHERE window = ?", (window,))  # noqa: S608 - fixed names
        cutoff = time.time() - KEEP_SECONDS
        self.db.execute("DELETE FROM digest_windows WHERE state = 'sent' AND due < ?", (cutoff,))

    def due(self, until: float) -> list[Window]:
        rows = self.db.execute("SELECT w.key, w.window, w.alert, w.cluster, w.due FROM digest_sweeps s "
                               "JOIN digest_windows w ON w.window = s.window WHERE s.due <= ? ORDER BY s.due", (until,))
        return [Window(*row) for row in rows]

    def swept(self, key: str, window: str) -> None:
        self.db.execute("DELETE FROM digest_sweeps WHERE window = ?", (window,))

    def _load(self, window: str, with_entries: bool = True) -> Window:
        row = self.db.execute(
            "SELECT key, alert, cluster, due, count, severity, base, opener FROM digest_windows "
            "WHERE window = ?", (window,))[0]
        entries = self.db.execute("SELECT t, line FROM digest_events WHERE window = ? ORDER BY rowid",
                                  (window,)) if with_entries else []
        key, alert, cluster, due, count, severity, base, opener = row
        return Window(key, window, alert, cluster, due, count, severity,
                      [{"t": t, "line": line} for t, line in entries], json.loads(base), opener)
