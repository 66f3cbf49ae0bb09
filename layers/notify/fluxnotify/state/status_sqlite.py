"""Delivery status in the local stack's SQLite file (the `serve` database, queue/sqlite.py
``SqliteDatabase``): tables ``status_objects`` (last attempt, error, delivered event),
``status_counts`` (per 5-minute slot and outcome, pruned after a day) and ``status_log``
(the last outcomes, for the status page). One transaction per message."""

from __future__ import annotations

import threading
import time
from typing import Any

from fluxnotify.metrics import Metrics
from fluxnotify.state.status import (
    DAY,
    Change,
    ObjectStatus,
    Outcome,
    SafeRecorder,
    changes,
    iso,
    slot_of,
    sort_key,
    window_counts,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS status_objects (
    kind TEXT NOT NULL, key TEXT NOT NULL, provider_type TEXT NOT NULL DEFAULT '',
    last_at REAL, last_outcome TEXT, last_detail TEXT,
    last_error TEXT, last_error_at REAL,
    delivered_at REAL, delivered_object TEXT, delivered_reason TEXT,
    PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS status_counts (
    kind TEXT NOT NULL, key TEXT NOT NULL, slot INTEGER NOT NULL, outcome TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (kind, key, slot, outcome)
);
CREATE TABLE IF NOT EXISTS status_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, alert TEXT, provider TEXT, provider_type TEXT,
    outcome TEXT, detail TEXT, object TEXT, reason TEXT, attempt INTEGER
);
"""

# Added after the first release: a file written by an older serve gets them on open.
_ADDED = (("status_objects", "last_cluster TEXT"), ("status_objects", "provider_key TEXT"),
          ("status_log", "cluster TEXT"))

_UPSERT = """
INSERT INTO status_objects (kind, key, provider_type, last_at, last_outcome, last_detail, last_error,
    last_error_at, delivered_at, delivered_object, delivered_reason, last_cluster, provider_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (kind, key) DO UPDATE SET
    last_cluster = excluded.last_cluster, provider_key = excluded.provider_key,
    provider_type = CASE WHEN excluded.provider_type != '' THEN excluded.provider_type ELSE provider_type END,
    last_at = excluded.last_at, last_outcome = excluded.last_outcome, last_detail = excluded.last_detail,
    last_error = COALESCE(excluded.last_error, last_error),
    last_error_at = COALESCE(excluded.last_error_at, last_error_at),
    delivered_at = COALESCE(excluded.delivered_at, delivered_at),
    delivered_object = COALESCE(excluded.delivered_object, delivered_object),
    delivered_reason = COALESCE(excluded.delivered_reason, delivered_reason)
"""

LOG_KEPT = 500  # rows of status_log kept (the page shows the last 50)


class SqliteStatus(SafeRecorder):
    """Status tables in the local stack's SQLite file (queue/sqlite.py ``SqliteDatabase``)."""

    def __init__(self, database: Any, metrics: Metrics | None = None):
        super().__init__(metrics)
        self.db = database
        with self.db.lock:
            self.db.connection.executescript(_SCHEMA)
            for table, column in _ADDED:
                present = {row[1] for row in self.db.connection.execute(f"PRAGMA table_info({table})")}
                if column.split()[0] not in present:
                    self.db.connection.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        self._last_prune = 0.0
        self._prune_lock = threading.Lock()

    def write(self, outcomes: list[Outcome]) -> None:
        rows = [_object_row(change) for change in changes(outcomes)]
        counts = [(c.kind, c.key, slot, outcome, n) for c in changes(outcomes)
                  for (slot, outcome), n in c.counts.items()]
        log = [(o.at, o.alert, o.provider, o.provider_type, o.outcome, o.detail, o.object, o.reason, o.attempt,
                o.cluster) for o in outcomes]
        with self.db.lock:
            connection = self.db.connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(_UPSERT, rows)
                connection.executemany(
                    "INSERT INTO status_counts VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, key, slot, outcome)"
                    " DO UPDATE SET n = n + excluded.n", counts)
                connection.executemany(
                    "INSERT INTO status_log (at, alert, provider, provider_type, outcome, detail, object, reason,"
                    " attempt, cluster) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", log)
                connection.execute("DELETE FROM status_log WHERE id <= (SELECT MAX(id) FROM status_log) - ?",
                                   (LOG_KEPT,))
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        self._prune(outcomes[0].at)

    def _prune(self, now: float) -> None:
        """Forget slots older than a day, at most once a minute."""
        with self._prune_lock:
            if now - self._last_prune < 60:
                return
            self._last_prune = now
        self.db.execute("DELETE FROM status_counts WHERE slot <= ?", (slot_of(now) - DAY,))

    def objects(self, now: float | None = None) -> list[ObjectStatus]:
        now = time.time() if now is None else now
        found = {}
        for row in self.db.execute(
            "SELECT kind, key, provider_type, last_at, last_outcome, last_detail, last_error, last_error_at,"
            " delivered_at, delivered_object, delivered_reason, last_cluster, provider_key FROM status_objects"
        ):
            status = ObjectStatus(row[0], row[1], row[2] or "", row[3], row[4] or "", row[5] or "",
                                  row[6] or "", row[7], row[8], row[9] or "", row[10] or "",
                                  cluster=row[11] or "", provider=row[12] or "")
            found[(status.kind, status.key)] = status
        rows: dict[tuple[str, str], list] = {}
        for kind, key, slot, outcome, n in self.db.execute(
            "SELECT kind, key, slot, outcome, n FROM status_counts WHERE slot > ?", (slot_of(now) - DAY,)
        ):
            rows.setdefault((kind, key), []).append((slot, outcome, n))
        for subject, status in found.items():
            status.last_hour, status.last_day = window_counts(rows.get(subject, []), now)
        return sorted(found.values(), key=sort_key)

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The last deliveries (one row per target and message), newest first."""
        rows = self.db.execute(
            "SELECT at, alert, provider, provider_type, outcome, detail, object, reason, attempt, cluster"
            " FROM status_log ORDER BY id DESC LIMIT ?", (limit,))
        names = ("at", "alert", "provider", "type", "outcome", "detail", "object", "reason", "attempt", "cluster")
        return [{**dict(zip(names, row, strict=True)), "at": iso(row[0]), "epoch": row[0],
                 "cluster": row[9] or ""} for row in rows]

    def since(self, at: float, provider: str, object_ref: str) -> list[tuple[str, str]]:
        """(outcome, detail) of the deliveries of an event's object to a Provider since ``at``
        (what became of a replayed dead letter), oldest first."""
        return self.db.execute("SELECT outcome, detail FROM status_log WHERE at >= ? AND provider = ? AND object = ?"
                               " ORDER BY id", (at, provider, object_ref))


def _object_row(change: Change) -> tuple:
    last, delivered, error = change.last, change.delivered, change.error
    return (
        change.kind, change.key, last.provider_type, last.at, last.outcome, last.detail,
        error.detail if error else None, error.at if error else None,
        delivered.at if delivered else None, delivered.object if delivered else None,
        delivered.reason if delivered else None, last.cluster, last.provider if change.kind == "Alert" else None,
    )
