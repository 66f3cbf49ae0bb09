"""Notify-on-change state: per (Alert, Provider, cluster, object) the last notified state.

One small record (``Mark``) per key ``<alert>|<provider>|<cluster>|<Kind/namespace/name>``
(delivery/stages/onchange.py builds the key and decides): DynamoDB items ``onchange#<key>``
in the state table on AWS (TTL ``expires_at``), the table ``onchange`` of serve's SQLite file
locally (at most MAX_TRACKED objects per Alert: beyond, the least recently written is
forgotten; expired rows are swept).

Every write is a compare-and-set on ``version`` (SQLite: one UPDATE … WHERE version = ?, or
INSERT OR IGNORE for a new key, in a transaction; DynamoDB: a conditional put), so of two
dispatchers deciding about the same object at once exactly one wins; the other reads again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

MAX_TRACKED = 10_000  # objects per Alert in serve's file
SWEEP_SECONDS = 60.0  # how often the SQLite store deletes expired rows (on a write)


@dataclass(frozen=True)
class Mark:
    state: str = ""  # "severity/reason" last notified; "" when only failures are counted
    since: float = 0.0  # when that state was first notified
    notified: float = 0.0  # the last notification of it (reminders count from here)
    failures: int = 0  # error events in a row (fluxnotify.io/after)
    by: str = ""  # the message that wrote this mark
    decision: str = ""  # what that message was told: "notify", "remind" or "" (skip)
    seen: float = 0.0  # when it was written (the expiry counts from here)
    version: int = 0  # compare-and-set


class OnChangeStore(Protocol):
    def get(self, key: str, now: float | None = None) -> Mark | None:
        """The live mark of ``key``, or None (never written, or expired)."""
        ...

    def put(self, key: str, alert: str, mark: Mark, expected: int | None, expires_at: float) -> bool:
        """Write ``mark`` with version ``expected + 1`` if the stored version is still ``expected``
        (None: no live mark); False when another writer came first (nothing written)."""
        ...


class SqliteOnChange:
    def __init__(self, database: Any, max_tracked: int = MAX_TRACKED):
        self.db = database
        self.max_tracked = max_tracked
        self._swept = 0.0
        self.db.execute("CREATE TABLE IF NOT EXISTS onchange (key TEXT PRIMARY KEY, alert TEXT NOT NULL, "
                        "state TEXT, since REAL, notified REAL, failures INTEGER, by TEXT, decision TEXT, "
                        "seen REAL, version INTEGER, expires_at REAL)")
        self.db.execute("CREATE INDEX IF NOT EXISTS onchange_alert ON onchange (alert, seen)")
        self.db.execute("CREATE INDEX IF NOT EXISTS onchange_expiry ON onchange (expires_at)")

    def get(self, key: str, now: float | None = None) -> Mark | None:
        now = time.time() if now is None else now
        rows = self.db.execute("SELECT state, since, notified, failures, by, decision, seen, version FROM onchange "
                               "WHERE key = ? AND expires_at > ?", (key, now))
        return Mark(*rows[0]) if rows else None

    def put(self, key: str, alert: str, mark: Mark, expected: int | None, expires_at: float) -> bool:
        now = mark.seen
        mark = replace(mark, version=(expected or 0) + 1)
        values = (mark.state, mark.since, mark.notified, mark.failures, mark.by, mark.decision, mark.seen,
                  mark.version, expires_at)
        with self.db.transaction() as connection:
            if expected is None:
                connection.execute("DELETE FROM onchange WHERE key = ? AND expires_at <= ?", (key, now))
                won = connection.execute("INSERT OR IGNORE INTO onchange VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                         (key, alert, *values)).rowcount == 1
                if won:
                    self._cap(connection, alert)
            else:
                won = connection.execute(
                    "UPDATE onchange SET state = ?, since = ?, notified = ?, failures = ?, by = ?, decision = ?, "
                    "seen = ?, version = ?, expires_at = ? WHERE key = ? AND version = ? AND expires_at > ?",
                    (*values, key, expected, now)).rowcount == 1
            if now - self._swept > SWEEP_SECONDS:
                self._swept = now
                connection.execute("DELETE FROM onchange WHERE expires_at <= ?", (now,))
        return won

    def _cap(self, connection: Any, alert: str) -> None:
        """Forget the least recently written objects of an Alert beyond max_tracked."""
        (count,) = connection.execute("SELECT COUNT(*) FROM onchange WHERE alert = ?", (alert,)).fetchone()
        if count > self.max_tracked:
            connection.execute("DELETE FROM onchange WHERE key IN (SELECT key FROM onchange WHERE alert = ? "
                               "ORDER BY seen LIMIT ?)", (alert, count - self.max_tracked))


class ReadOnlySqliteOnChange:
    """`render --db FILE`: the marks of a serve database, read only (no table: no marks)."""

    def __init__(self, path: str):
        import sqlite3  # render's only: the Lambda dispatcher never loads it

        self._error = sqlite3.OperationalError
        self.connection = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True,
                                          check_same_thread=False)

    def get(self, key: str, now: float | None = None) -> Mark | None:
        now = time.time() if now is None else now
        try:
            row = self.connection.execute("SELECT state, since, notified, failures, by, decision, seen, version "
                                          "FROM onchange WHERE key = ? AND expires_at > ?", (key, now)).fetchone()
        except self._error:  # a database of a release before on-change
            return None
        return Mark(*row) if row else None

    def put(self, key: str, alert: str, mark: Mark, expected: int | None, expires_at: float) -> bool:
        raise PermissionError("render reads the on-change state, never writes it")


class DynamoOnChange:
    def __init__(self, table: str, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client
        self.table = table

    def get(self, key: str, now: float | None = None) -> Mark | None:
        now = time.time() if now is None else now
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": f"onchange#{key}"}},
                                    ConsistentRead=True).get("Item")
        # DynamoDB deletes expired items lazily (within days): check the TTL ourselves.
        if item is None or float(item["expires_at"]["N"]) <= now:
            return None
        return Mark(item["state"]["S"], float(item["since"]["N"]), float(item["notified"]["N"]),
                    int(item["failures"]["N"]), item["by"]["S"], item["decision"]["S"], float(item["seen"]["N"]),
                    int(item["version"]["N"]))

    def put(self, key: str, alert: str, mark: Mark, expected: int | None, expires_at: float) -> bool:
        item = {
            "pk": {"S": f"onchange#{key}"}, "state": {"S": mark.state}, "since": {"N": _number(mark.since)},
            "notified": {"N": _number(mark.notified)}, "failures": {"N": str(mark.failures)},
            "by": {"S": mark.by}, "decision": {"S": mark.decision}, "seen": {"N": _number(mark.seen)},
            "version": {"N": str((expected or 0) + 1)}, "expires_at": {"N": str(int(expires_at))},
        }
        if expected is None:
            condition, values = "attribute_not_exists(pk) OR expires_at <= :now", {":now": {"N": str(int(mark.seen))}}
        else:
            condition, values = "version = :version", {":version": {"N": str(expected)}}
        try:
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression=condition,
                                 ExpressionAttributeValues=values)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _number(value: float) -> str:
    return f"{value:.3f}"
