"""Where digest windows live between their first event and their flush: SQLite or DynamoDB.

A window goes open → closed → sent. ``add`` puts an event into the key's open window
(opening one when there is none) once per queue message id, so a redelivered message is
not counted twice; ``close`` atomically turns the open window into a closed one, so later
events open the next window; ``close`` of a window already closed but not sent returns it
again (a flush that crashed before sending sends it then) once its lease has passed
(FlushBusy before: a second flush message of the same window waits rather than sending it
twice while the first is sending), ``mark_sent`` ends it.

DynamoDB (STATE_TABLE, DESIGN.md shared contract 2): the open window is the item
``digest#<key>``, a closed one ``digest#<key>#<window>``; both expire (TTL) a week after
their due time. Locally the tables ``digest_windows`` and ``digest_events`` of serve's file.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

SEVERITY_RANK = {"trace": 0, "info": 1, "error": 2}
KEEP_SECONDS = 7 * 24 * 3600  # how long a window outlives its due time
LEASE_SECONDS = 150.0  # > the dispatcher's function timeout (120 s) and serve's visibility timeout
MAX_ENTRIES = 500  # lines kept per window (the count goes on): DynamoDB's item limit


@dataclass
class Window:
    key: str
    window: str
    alert: str
    cluster: str
    due: float
    count: int = 0
    severity: str = "info"  # the worst seen
    entries: list[dict] = field(default_factory=list)  # {"t": timestamp, "line": text}
    base: dict = field(default_factory=dict)  # the first event, as queued
    opener: str = ""  # the message id that opened the window


@dataclass(frozen=True)
class Entry:
    """One event's contribution to a window."""

    key: str
    alert: str
    cluster: str
    seconds: float
    message_id: str
    severity: str
    timestamp: str
    line: str
    base: dict


class FlushBusy(Exception):
    """Another flush of this window started less than LEASE_SECONDS ago."""

    def __init__(self, retry_in: float):
        super().__init__(f"the window is being flushed; retry in {retry_in:.0f} s")
        self.retry_in = retry_in


def worst(a: str, b: str) -> str:
    return a if SEVERITY_RANK.get(a, 1) >= SEVERITY_RANK.get(b, 1) else b


class DigestStore(Protocol):
    def add(self, entry: Entry, now: float | None = None) -> Window: ...

    def close(self, key: str, window: str, now: float | None = None) -> Window | None: ...

    def release(self, key: str, window: str) -> None:
        """A send attempt ended without success: the next flush may try at once."""
        ...

    def mark_sent(self, key: str, window: str) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS digest_windows (
    key TEXT NOT NULL, window TEXT PRIMARY KEY, state TEXT NOT NULL, alert TEXT NOT NULL,
    cluster TEXT NOT NULL, due REAL NOT NULL, count INTEGER NOT NULL, severity TEXT NOT NULL,
    base TEXT NOT NULL, opener TEXT NOT NULL, closed_at REAL);
CREATE INDEX IF NOT EXISTS digest_windows_open ON digest_windows (key, state);
CREATE TABLE IF NOT EXISTS digest_events (
    window TEXT NOT NULL, message_id TEXT NOT NULL, t TEXT NOT NULL, line TEXT NOT NULL,
    PRIMARY KEY (window, message_id));
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

        def work(db) -> str:
            row = db.execute("SELECT window FROM digest_windows WHERE key = ? AND state = 'open'",
                             (entry.key,)).fetchone()
            if row is None:
                window = uuid.uuid4().hex
                db.execute("INSERT INTO digest_windows VALUES (?, ?, 'open', ?, ?, ?, 0, 'trace', ?, ?, NULL)",
                           (entry.key, window, entry.alert, entry.cluster, now + entry.seconds,
                            json.dumps(entry.base), entry.message_id))
            else:
                window = row[0]
            added = db.execute("INSERT OR IGNORE INTO digest_events VALUES (?, ?, ?, ?)",
                               (window, entry.message_id, entry.timestamp, entry.line)).rowcount
            if added:
                (severity,) = db.execute("SELECT severity FROM digest_windows WHERE window = ?",
                                         (window,)).fetchone()
                db.execute("UPDATE digest_windows SET count = count + 1, severity = ? WHERE window = ?",
                           (worst(severity, entry.severity), window))
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
        self.db.execute("DELETE FROM digest_events WHERE window = ?", (window,))
        cutoff = time.time() - KEEP_SECONDS
        self.db.execute("DELETE FROM digest_windows WHERE state = 'sent' AND due < ?", (cutoff,))

    def _load(self, window: str, with_entries: bool = True) -> Window:
        row = self.db.execute(
            "SELECT key, alert, cluster, due, count, severity, base, opener FROM digest_windows "
            "WHERE window = ?", (window,))[0]
        entries = self.db.execute("SELECT t, line FROM digest_events WHERE window = ? ORDER BY rowid",
                                  (window,)) if with_entries else []
        key, alert, cluster, due, count, severity, base, opener = row
        return Window(key, window, alert, cluster, due, count, severity,
                      [{"t": t, "line": line} for t, line in entries], json.loads(base), opener)


class DynamoDigests:
    """Conditional updates and one transaction per close, so concurrent dispatchers agree."""

    def __init__(self, table: str, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client
        self.table = table

    def add(self, entry: Entry, now: float | None = None) -> Window:
        now = time.time() if now is None else now
        pk = {"pk": {"S": f"digest#{entry.key}"}}
        item = json.dumps({"t": entry.timestamp, "line": entry.line}, ensure_ascii=False)
        values = {
            ":w": {"S": uuid.uuid4().hex}, ":alert": {"S": entry.alert}, ":cluster": {"S": entry.cluster},
            ":due": {"N": repr(now + entry.seconds)}, ":base": {"S": json.dumps(entry.base)},
            ":opener": {"S": entry.message_id}, ":one": {"N": "1"},
            ":err": {"N": "1" if entry.severity == "error" else "0"},
            ":id": {"SS": [entry.message_id]}, ":mid": {"S": entry.message_id},
            ":exp": {"N": str(int(now + entry.seconds + KEEP_SECONDS))},
        }
        # Every attribute through a name placeholder: several (count, base, window…) are reserved words.
        fields = ("window", "alert", "cluster", "due", "base", "opener", "expires_at")
        sources = (":w", ":alert", ":cluster", ":due", ":base", ":opener", ":exp")
        base_update = "SET " + ", ".join(f"#{f} = if_not_exists(#{f}, {v})" for f, v in zip(fields, sources, strict=True))
        not_seen = "(attribute_not_exists(#ids) OR NOT contains(#ids, :mid))"
        without_entries = {f"#{name}": name for name in (*fields, "count", "errors", "ids")}
        names = {**without_entries, "#entries": "entries"}
        errors = self.client.exceptions
        try:
            answer = self.client.update_item(
                TableName=self.table, Key=pk, ReturnValues="ALL_NEW",
                UpdateExpression=base_update + ", #entries = list_append(if_not_exists(#entries, :empty), :entry) "
                "ADD #count :one, #errors :err, #ids :id",
                ConditionExpression=f"{not_seen} AND (attribute_not_exists(#entries) OR size(#entries) < :max)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**values, ":empty": {"L": []}, ":entry": {"L": [{"S": item}]},
                                           ":max": {"N": str(MAX_ENTRIES)}},
            )
        except errors.ConditionalCheckFailedException:
            try:  # a full window keeps counting without the line
                answer = self.client.update_item(
                    TableName=self.table, Key=pk, ReturnValues="ALL_NEW",
                    UpdateExpression=base_update + " ADD #count :one, #errors :err, #ids :id",
                    ConditionExpression=not_seen, ExpressionAttributeNames=without_entries,
                    ExpressionAttributeValues=values,
                )
            except errors.ConditionalCheckFailedException:  # this message is already in the window
                answer = {"Attributes": self.client.get_item(TableName=self.table, Key=pk,
                                                             ConsistentRead=True)["Item"]}
        return _window(entry.key, answer["Attributes"])

    def close(self, key: str, window: str, now: float | None = None) -> Window | None:
        now = time.time() if now is None else now
        open_key = {"pk": {"S": f"digest#{key}"}}
        closed_key = {"pk": {"S": f"digest#{key}#{window}"}}
        current = self.client.get_item(TableName=self.table, Key=open_key, ConsistentRead=True).get("Item")
        if current is not None and current["window"]["S"] == window:
            closed = {**current, **closed_key, "state": {"S": "closed"}, "closed_at": {"N": repr(now)}}
            closed.pop("ids", None)
            try:
                self.client.transact_write_items(TransactItems=[
                    {"Delete": {"TableName": self.table, "Key": open_key, "ConditionExpression": "#w = :w",
                                "ExpressionAttributeNames": {"#w": "window"},
                                "ExpressionAttributeValues": {":w": {"S": window}}}},
                    {"Put": {"TableName": self.table, "Item": closed,
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                ])
                return _window(key, closed)
            except self.client.exceptions.TransactionCanceledException:
                pass  # another flush of the same window won: read what it wrote
        item = self.client.get_item(TableName=self.table, Key=closed_key, ConsistentRead=True).get("Item")
        if item is None or item["state"]["S"] != "closed":
            return None
        claimed = item["closed_at"]
        if now - float(claimed["N"]) < LEASE_SECONDS:
            raise FlushBusy(LEASE_SECONDS - (now - float(claimed["N"])))
        try:  # take the lease over from a flush that died
            self.client.update_item(
                TableName=self.table, Key=closed_key, UpdateExpression="SET closed_at = :now",
                ConditionExpression="closed_at = :old",
                ExpressionAttributeValues={":now": {"N": repr(now)}, ":old": claimed})
        except self.client.exceptions.ConditionalCheckFailedException:
            raise FlushBusy(LEASE_SECONDS) from None
        return _window(key, item)

    def release(self, key: str, window: str) -> None:
        self.client.update_item(TableName=self.table, Key={"pk": {"S": f"digest#{key}#{window}"}},
                                UpdateExpression="SET closed_at = :zero", ExpressionAttributeValues={":zero": {"N": "0"}})

    def mark_sent(self, key: str, window: str) -> None:
        self.client.update_item(
            TableName=self.table, Key={"pk": {"S": f"digest#{key}#{window}"}},
            UpdateExpression="SET #s = :sent REMOVE #e, #b",
            ExpressionAttributeNames={"#s": "state", "#e": "entries", "#b": "base"},
            ExpressionAttributeValues={":sent": {"S": "sent"}},
        )


def _window(key: str, item: dict) -> Window:
    return Window(
        key=key, window=item["window"]["S"], alert=item["alert"]["S"], cluster=item["cluster"]["S"],
        due=float(item["due"]["N"]), count=int(item["count"]["N"]),
        severity="error" if int(item.get("errors", {"N": "0"})["N"]) else "info",
        entries=[json.loads(e["S"]) for e in item.get("entries", {"L": []})["L"]],
        base=json.loads(item["base"]["S"]), opener=item["opener"]["S"],
    )
