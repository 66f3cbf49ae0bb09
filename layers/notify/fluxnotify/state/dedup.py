"""Duplicate-event suppression at the door (spec §2.6), shared by every receiver.

Fixed windows anchored at a key's first sighting: window k covers
[t0 + k·I, t0 + (k+1)·I); the first request of each window passes. A key unused
for 2·I is forgotten (TTL on DynamoDB, a sweep in SQLite).

A key is kept only for an event that was queued (``admit``). In SQLite the key and the
message are one transaction. On DynamoDB the key is written once, already in its final form,
by a conditional PutItem (``attribute_not_exists(pk) OR window_end <= now - I``: new or
forgotten), then the message is sent; only a failed send costs a second request, which
deletes the key again (or puts back the item it replaced), conditioned on the write's own
random ``claim``. A refused write returns the item it found (``ALL_OLD``), so a duplicate
costs that one request, and the first request of a later window of the same anchor one more
conditional write (``window_end = :old``).

The race. Two copies of an event arriving together: the second finds the first's key and is
refused (429) even while the first's message is still being sent. That cannot lose the event
when the send fails: the failing receiver deletes the key *before* it answers its own copy
with 503, so that copy's retry (Flux retries a 5xx) is admitted. The second copy is a
duplicate of the first, whose sender still holds it. The event is refused for the rest of
its window only when the send fails *and* the delete fails (DynamoDB and SQS both failing in
one request; logged as a warning), or when the receiver process dies between the write and
the end of the send; the receiver's SQS client is bounded (queue/sqs.py ``SEND_TIMEOUTS``) so that a slow
send raises, and the delete runs, well inside the Lambda timeout. Earlier versions wrote the
key with a lease and confirmed it after the send (three requests per event, two of them
writes) to cover that process death too; the saving (one write instead of two writes and a
read) is what the bill asked for, and the window is seconds against an API whose caller got
no 202.

The key (``dedup_key(event, cluster)``) always includes the cluster, so the same event from
two clusters passes twice, and no field value of one cluster's event can produce another's key.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fluxnotify.model.event import Event

logger = logging.getLogger(__name__)

Enqueue = Callable[[], object]
Undo = tuple[dict, dict | None] | None  # (our item, the one it replaced) after a write


DEDUP_KEY_FIELDS = ("originRevision", "revision", "token")


def dedup_key(event: Event, cluster: str = "default") -> str:
    """The duplicate key: SHA-256 (hex) of spec §2.6's fields and the cluster, length-prefixed.

    The reference joins its fields as ``/name=value`` without escaping, so a value could take
    the shape of a field that follows it (a revision ending ``/cluster=prod`` would be prod's
    key). Here each field name and value is preceded by its length in bytes, and the cluster
    (``default`` too) is always the last field: no value can imitate another field or cluster.
    Same fields as the reference: the object, the message and the object-group
    ``originRevision``/``revision``/``token`` keys present in the cleaned raw metadata.
    """
    ref = event.involved_object
    fields = [("name", ref.name), ("namespace", ref.namespace), ("kind", ref.kind), ("message", event.message)]
    group_prefix = event.group + "/"
    fields += [(key, event.metadata[group_prefix + key]) for key in DEDUP_KEY_FIELDS
               if group_prefix + key in event.metadata]
    fields.append(("cluster", cluster))
    chunks = [b"fluxnotify/dedup/2"]
    for name, value in fields:
        for part in (name, value):
            data = part.encode("utf-8", "surrogatepass")
            chunks += (len(data).to_bytes(8, "big"), data)
    return hashlib.sha256(b"".join(chunks)).hexdigest()  # one call: the receiver's hot path


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reset: float  # end of the current window, Unix seconds


class DedupStore(Protocol):
    def take(self, key: str, now: float | None = None) -> Verdict: ...

    def admit(self, key: str, enqueue: Enqueue, now: float | None = None) -> Verdict:
        """Call ``enqueue`` when the key passes; keep the key only if ``enqueue`` succeeded."""
        ...


def window_end(first_seen: float, interval: float, now: float) -> float:
    k = math.floor((now - first_seen) / interval)
    return first_seen + (k + 1) * interval


class NoDedup:
    """Suppression off (RATE_LIMIT_INTERVAL=0)."""

    def take(self, key: str, now: float | None = None) -> Verdict:
        return Verdict(True, now if now is not None else time.time())

    def admit(self, key: str, enqueue: Enqueue, now: float | None = None) -> Verdict:
        enqueue()
        return self.take(key, now)


class SqliteDedup:
    def __init__(self, database: Any, interval: float):
        self.db = database
        self.interval = interval
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS dedup (key TEXT PRIMARY KEY, first_seen REAL, window_end REAL)"
        )
        self._last_sweep = 0.0
        self._lock = threading.RLock()

    def admit(self, key: str, enqueue: Enqueue, now: float | None = None) -> Verdict:
        with self._lock, self.db.transaction():  # a failing enqueue rolls the key back with it
            verdict = self.take(key, now)
            if verdict.allowed:
                enqueue()
        return verdict

    def take(self, key: str, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        with self._lock:
            self._sweep(now)
            end = now + self.interval
            if self.db.changes("INSERT OR IGNORE INTO dedup VALUES (?, ?, ?)", (key, now, end)):
                return Verdict(True, end)  # a new key (most events): one statement
            rows = self.db.execute("SELECT first_seen, window_end FROM dedup WHERE key = ?", (key,))
            if not rows or now >= rows[0][1] + self.interval:
                end = now + self.interval
                self.db.execute("INSERT OR REPLACE INTO dedup VALUES (?, ?, ?)", (key, now, end))
                return Verdict(True, end)
            first_seen, current_end = rows[0]
            end = window_end(first_seen, self.interval, now)
            if end <= current_end:
                return Verdict(False, current_end)
            self.db.execute("UPDATE dedup SET window_end = ? WHERE key = ?", (end, key))
            return Verdict(True, end)

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep >= self.interval:
            self.db.execute("DELETE FROM dedup WHERE window_end + ? < ?", (self.interval, now))
            self._last_sweep = now


class DynamoDedup:
    """One conditional PutItem per admitted event; see the module docstring for the race.

    An item: ``pk``, ``first_seen``, ``window_end`` (numbers, Unix seconds), ``expires_at``
    (TTL) and ``claim`` (a random id naming the write, so only its writer undoes it).
    """

    def __init__(self, table_name: str, interval: float, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client
        self.table = table_name
        self.interval = interval

    def take(self, key: str, now: float | None = None) -> Verdict:
        """Check and record in one step (no message involved); see ``admit``."""
        verdict, _ = self._claim(key, time.time() if now is None else now)
        return verdict

    def admit(self, key: str, enqueue: Enqueue, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        verdict, undo = self._claim(key, now)
        if not verdict.allowed:
            return verdict
        try:
            enqueue()
        except BaseException:
            self._undo(key, undo)
            raise
        return verdict

    def _claim(self, key: str, now: float) -> tuple[Verdict, Undo]:
        """A new or forgotten key: one write. A seen key: the failed write returns it, and the
        first request of a later window of its anchor writes once more (``window_end = :old``)."""
        end = now + self.interval
        new = self._item(key, now, end)
        try:
            self._put(new, "attribute_not_exists(pk) OR window_end <= :forgotten",
                      {":forgotten": {"N": repr(now - self.interval)}})
            return Verdict(True, end), (new, None)
        except self.client.exceptions.ConditionalCheckFailedException as err:
            old = err.response.get("Item") or self._get(key)
        if old is None:  # deleted in between (a failed send's undo): as if lost to a racer
            return Verdict(False, end), None
        first_seen, current_end = float(old["first_seen"]["N"]), float(old["window_end"]["N"])
        end = window_end(first_seen, self.interval, now)
        if end <= current_end:
            return Verdict(False, current_end), None
        new = self._item(key, first_seen, end)
        try:
            self._put(new, "window_end = :old", {":old": old["window_end"]})
        except self.client.exceptions.ConditionalCheckFailedException:
            return Verdict(False, end), None  # another receiver opened this window first
        return Verdict(True, end), (new, old)

    def _undo(self, key: str, undo: Undo) -> None:
        """The message was not sent: put back what was there (only if the item is still ours)."""
        if undo is None:
            return
        new, old = undo
        mine = {"ConditionExpression": "claim = :mine", "ExpressionAttributeValues": {":mine": new["claim"]}}
        try:
            if old is None:
                self.client.delete_item(TableName=self.table, Key={"pk": new["pk"]}, **mine)
            else:
                self.client.put_item(TableName=self.table, Item=old, **mine)
        except Exception as err:  # the key stays: this event is refused until its window ends
            logger.warning("could not remove a duplicate key after a failed send: %s", type(err).__name__)

    def _item(self, key: str, first_seen: float, end: float) -> dict:
        return {"pk": {"S": key}, "first_seen": {"N": repr(first_seen)}, "window_end": {"N": repr(end)},
                "expires_at": {"N": str(int(end + self.interval) + 1)}, "claim": {"S": uuid.uuid4().hex}}

    def _put(self, item: dict, condition: str, values: dict) -> None:
        self.client.put_item(TableName=self.table, Item=item, ConditionExpression=condition,
                             ExpressionAttributeValues=values, ReturnValuesOnConditionCheckFailure="ALL_OLD")

    def _get(self, key: str) -> dict | None:
        answer = self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True)
        return answer.get("Item")
