"""Where digest windows live between their first event and their flush: SQLite or DynamoDB.

A window goes open → closed → sent. ``add`` puts an event into the key's open window
(opening one when there is none) once per queue message id, so a redelivered message is
not counted twice; ``close`` atomically turns the open window into a closed one, so later
events open the next window; ``close`` of a window already closed but not sent returns it
again (a flush that crashed before sending sends it then) once its lease has passed
(FlushBusy before: a second flush message of the same window waits rather than sending it
twice while the first is sending), ``mark_sent`` ends it.

Bounded whatever arrives (ITEM_BOUND, below DynamoDB's 400 KB item limit): the first event
is kept without its metadata and with its strings cut (it only names the object and reason
of the digest); a window keeps MAX_ENTRIES lines of at most MAX_LINE_BYTES (the count goes
on); for idempotency it remembers the last RECENT_IDS to 2×RECENT_IDS message ids of the
window (as 64-bit hashes) — a message redelivered after more than RECENT_IDS later events of
the same window would be counted again (SQS redelivers after the 12-minute visibility timeout).

A window longer than the queue's longest delay (SWEEP_AFTER) gets no delayed flush message
(a chain of 15-minute hops would be stopped by Lambda's recursive-loop detection): it is
listed by ``due`` until ``swept``, and a periodic sweep (digests.sweep) queues its flush.

DynamoDB (STATE_TABLE, DESIGN.md shared contract 2): the open window is the item
``digest#<key>``, a closed one ``digest#<key>#<window>``; both expire (TTL) a week after
their due time. A long open window also has ``digest_sweep`` = "digest" and ``digest_due``,
the keys of the sparse index DUE_INDEX. Locally the tables ``digest_windows``,
``digest_events`` (the lines), ``digest_seen`` (recent message ids) and ``digest_sweeps`` of
serve's file.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from fluxnotify.model.event import event_from_data
from fluxnotify.queue import MAX_DELAY_SECONDS

SEVERITY_RANK = {"trace": 0, "info": 1, "error": 2}
KEEP_SECONDS = 7 * 24 * 3600  # how long a window outlives its due time
LEASE_SECONDS = 150.0  # > the dispatcher's function timeout (120 s) and serve's visibility timeout
SWEEP_AFTER = MAX_DELAY_SECONDS  # longer windows are flushed by the sweep, not a delayed message
DUE_INDEX = "digest_due"  # DynamoDB: sparse index of the long open windows by due time

# The bound of a window item, in bytes (DynamoDB counts attribute names and values).
MAX_ENTRIES = 500  # lines kept per window (the count goes on)
MAX_LINE_BYTES = 300  # a line is ≤ 300 characters; multi-byte ones are cut to 300 bytes
ENTRY_BYTES = MAX_LINE_BYTES + 64  # + its timestamp and JSON: {"t": "…", "line": "…"}
RECENT_IDS = 1000  # message ids remembered per generation (two generations)
ID_BYTES = 16  # a message id's hash: 64 bits in hex
MAX_TEXT = 512  # characters of any string of the stored first event
MAX_BASE_BYTES = 12 * (4 * MAX_TEXT + 32)  # its ≤ 12 strings, UTF-8, with JSON
MAX_NAME_BYTES = 2048  # key, window, alert, cluster, opener, small attributes (names are ≤ 253 characters)
ITEM_BOUND = MAX_ENTRIES * ENTRY_BYTES + 2 * RECENT_IDS * ID_BYTES + MAX_BASE_BYTES + 6 * MAX_NAME_BYTES
assert ITEM_BOUND < 400 * 1024, ITEM_BOUND


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
    base: dict = field(default_factory=dict)  # the first event, bounded (bounded_base)
    opener: str = ""  # message_key() of the message that opened the window


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


def swept(seconds: float) -> bool:
    """Whether a window of this length is flushed by the sweep (no delayed flush message)."""
    return seconds > SWEEP_AFTER


def message_key(message_id: str) -> str:
    """A message id as a window's opener: itself, or its hash when it is long."""
    return message_id if len(message_id) <= 128 else "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


def id_hash(message_id: str) -> str:
    return hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:ID_BYTES]


def cut_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8", "surrogatepass")
    return text if len(data) <= limit else data[: limit - 3].decode("utf-8", "ignore") + "…"


def bounded_base(base: dict) -> dict:
    """The first event as the digest uses it (object, reason, controller), without metadata and
    with every string cut to MAX_TEXT characters: at most MAX_BASE_BYTES."""
    event = event_from_data(base)
    ref = event.involved_object
    ref = replace(ref, **{f: getattr(ref, f)[:MAX_TEXT] for f in ref.__dataclass_fields__
                          if isinstance(getattr(ref, f), str)})
    event = replace(event, involved_object=ref, metadata={}, message=event.message[:MAX_TEXT],
                    reason=event.reason[:MAX_TEXT], severity=event.severity[:MAX_TEXT],
                    reporting_controller=event.reporting_controller[:MAX_TEXT],
                    reporting_instance=event.reporting_instance[:MAX_TEXT])
    return event.to_dict()


def bounded(entry: Entry) -> Entry:
    return replace(entry, line=cut_bytes(entry.line, MAX_LINE_BYTES), timestamp=entry.timestamp[:40],
                   base=bounded_base(entry.base))


class DigestStore(Protocol):
    def add(self, entry: Entry, now: float | None = None) -> Window: ...

    def close(self, key: str, window: str, now: float | None = None) -> Window | None: ...

    def release(self, key: str, window: str) -> None:
        """A send attempt ended without success: the next flush may try at once."""
        ...

    def mark_sent(self, key: str, window: str) -> None: ...

    def due(self, until: float) -> list[Window]:
        """The long open windows due by ``until`` whose flush the sweep has not queued yet
        (key, window, alert, due)."""
        ...

    def swept(self, key: str, window: str) -> None:
        """The sweep queued the window's flush."""
        ...


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
                            json.dumps(entry.base), message_key(entry.message_id)))
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


class DynamoDigests:
    """Conditional updates and one transaction per close, so concurrent dispatchers agree."""

    def __init__(self, table: str, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client
        self.table = table

    def add(self, entry: Entry, now: float | None = None) -> Window:
        """One UpdateItem in the common case. Its condition also says which variant applies (a
        line while fewer than MAX_ENTRIES; a new generation of ids once RECENT_IDS are kept):
        when the item is not as assumed, DynamoDB returns it and the right variant is tried."""
        now = time.time() if now is None else now
        entry, seen = bounded(entry), id_hash(entry.message_id)
        pk = {"pk": {"S": f"digest#{entry.key}"}}
        with_line, rotate = True, False
        for _ in range(6):
            try:
                answer = self.client.update_item(TableName=self.table, Key=pk, ReturnValues="ALL_NEW",
                                                  ReturnValuesOnConditionCheckFailure="ALL_OLD",
                                                  **_add_update(entry, seen, now, with_line, rotate))
                return replace(_window(entry.key, answer["Attributes"]), entries=[])
            except self.client.exceptions.ConditionalCheckFailedException as failed:
                old = failed.response.get("Item") or {}
            if seen in _ids(old, "ids") or seen in _ids(old, "ids_old"):  # a redelivered message
                return replace(_window(entry.key, old), entries=[])
            with_line = len(old.get("entries", {"L": []})["L"]) < MAX_ENTRIES
            rotate = len(_ids(old, "ids")) >= RECENT_IDS
        raise RuntimeError(f"digest window {entry.key}: too many concurrent changes; try again")

    def close(self, key: str, window: str, now: float | None = None) -> Window | None:
        now = time.time() if now is None else now
        open_key = {"pk": {"S": f"digest#{key}"}}
        closed_key = {"pk": {"S": f"digest#{key}#{window}"}}
        current = self.client.get_item(TableName=self.table, Key=open_key, ConsistentRead=True).get("Item")
        if current is not None and current["window"]["S"] == window:
            closed = {**current, **closed_key, "state": {"S": "closed"}, "closed_at": {"N": repr(now)}}
            for name in ("ids", "ids_old", "digest_sweep", "digest_due"):
                closed.pop(name, None)  # idempotency is the open window's; out of the sweep's index
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

    def due(self, until: float) -> list[Window]:
        found: list[Window] = []
        start: dict[str, dict] = {}
        while True:
            page = self.client.query(
                TableName=self.table, IndexName=DUE_INDEX, **start,
                KeyConditionExpression="digest_sweep = :digest AND digest_due <= :until",
                ExpressionAttributeValues={":digest": {"S": "digest"}, ":until": {"N": repr(until)}})
            found += [Window(item["pk"]["S"].removeprefix("digest#"), item["window"]["S"], item["alert"]["S"],
                             "", float(item["digest_due"]["N"])) for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return found
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    def swept(self, key: str, window: str) -> None:
        try:
            self.client.update_item(
                TableName=self.table, Key={"pk": {"S": f"digest#{key}"}}, ConditionExpression="#w = :w",
                UpdateExpression="REMOVE digest_sweep, digest_due", ExpressionAttributeNames={"#w": "window"},
                ExpressionAttributeValues={":w": {"S": window}})
        except self.client.exceptions.ConditionalCheckFailedException:
            pass  # closed meanwhile: the closed item is not in the index


def _add_update(entry: Entry, seen: str, now: float, with_line: bool, rotate: bool) -> dict:
    """The UpdateItem of ``add``: the window's fields if it is new, the count, the worst
    severity, the message's id hash, and its line (``with_line``)."""
    due = now + entry.seconds
    fields = {"window": {"S": uuid.uuid4().hex}, "alert": {"S": entry.alert}, "cluster": {"S": entry.cluster},
              "due": {"N": repr(due)}, "base": {"S": json.dumps(entry.base)},
              "opener": {"S": message_key(entry.message_id)},
              "expires_at": {"N": str(int(due + KEEP_SECONDS))}}
    if swept(entry.seconds):  # the keys of the sweep's index
        fields |= {"digest_sweep": {"S": "digest"}, "digest_due": {"N": repr(due)}}
    # Every attribute through a name placeholder: several (count, base, window…) are reserved words.
    names = {f"#{name}": name for name in (*fields, "count", "errors", "ids", "ids_old", "entries")}
    values: dict[str, dict] = {f":{name}": value for name, value in fields.items()}
    values |= {":one": {"N": "1"}, ":err": {"N": "1" if entry.severity == "error" else "0"},
               ":mid": {"S": seen}, ":ids": {"SS": [seen]}, ":n": {"N": str(RECENT_IDS)}}
    sets = [f"#{name} = if_not_exists(#{name}, :{name})" for name in fields]
    adds = ["#count :one", "#errors :err"]
    condition = ["(attribute_not_exists(#ids) OR NOT contains(#ids, :mid))",
                 "(attribute_not_exists(#ids_old) OR NOT contains(#ids_old, :mid))"]
    if rotate:  # the current generation of ids is full: it becomes the old one
        sets += ["#ids_old = #ids", "#ids = :ids"]
        condition.append("size(#ids) >= :n")
    else:
        adds.append("#ids :ids")
        condition.append("(attribute_not_exists(#ids) OR size(#ids) < :n)")
    values[":max"] = {"N": str(MAX_ENTRIES)}
    if with_line:
        sets.append("#entries = list_append(if_not_exists(#entries, :empty), :entry)")
        values |= {":empty": {"L": []}, ":entry": {"L": [{"S": json.dumps(
            {"t": entry.timestamp, "line": entry.line}, ensure_ascii=False)}]}}
        condition.append("(attribute_not_exists(#entries) OR size(#entries) < :max)")
    else:  # a full window keeps counting without the line
        condition.append("size(#entries) >= :max")
    return {"UpdateExpression": f"SET {', '.join(sets)} ADD {', '.join(adds)}",
            "ConditionExpression": " AND ".join(condition),
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}


def _ids(item: dict, name: str) -> list[str]:
    return item.get(name, {"SS": []})["SS"]


def _window(key: str, item: dict) -> Window:
    return Window(
        key=key, window=item["window"]["S"], alert=item["alert"]["S"], cluster=item["cluster"]["S"],
        due=float(item["due"]["N"]), count=int(item["count"]["N"]),
        severity="error" if int(item.get("errors", {"N": "0"})["N"]) else "info",
        entries=[json.loads(e["S"]) for e in item.get("entries", {"L": []})["L"]],
        base=json.loads(item["base"]["S"]), opener=item["opener"]["S"],
    )
