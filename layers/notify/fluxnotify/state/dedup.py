"""Duplicate-event suppression at the door (spec §2.6), shared by every receiver.

Fixed windows anchored at a key's first sighting: window k covers
[t0 + k·I, t0 + (k+1)·I); the first request of each window passes. A key unused
for 2·I is forgotten (TTL on DynamoDB, a sweep in SQLite).

A key exists only for an event that was queued (``admit``): in SQLite the key and the
message are one transaction; on DynamoDB the key is first written with a lease, the
message sent, then the lease removed, and a failed send deletes the key again. A key
whose lease ran out (the receiver died between the two writes) counts as unseen.

The key (``dedup_key(event, cluster)``) always includes the cluster, so the same event from
two clusters passes twice, and no field value of one cluster's event can produce another's key.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fluxnotify.model.event import Event

logger = logging.getLogger(__name__)

LEASE_SECONDS = 30.0  # > the receiver's Lambda timeout: a claim older than this was abandoned

Enqueue = Callable[[], object]


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
    digest = hashlib.sha256(b"fluxnotify/dedup/2")
    for name, value in fields:
        for part in (name, value):
            data = part.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reset: float  # end of the current window, Unix seconds
    pending: bool = False  # another receiver is queueing the same event right now


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
    """Conditional writes, so concurrent receivers agree on who passes.

    An item: ``pk``, ``first_seen``, ``window_end``, ``expires_at`` (TTL) and, while its
    message is being sent, ``lease_until``.
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
        verdict, _ = self._claim(key, time.time() if now is None else now, lease=False)
        return verdict

    def admit(self, key: str, enqueue: Enqueue, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        verdict, claimed = self._claim(key, now, lease=True)
        if not verdict.allowed:
            return verdict
        try:
            enqueue()
        except BaseException:
            self._release(key, claimed)
            raise
        self._confirm(key, claimed)
        return verdict

    def _claim(self, key: str, now: float, lease: bool) -> tuple[Verdict, dict]:
        errors = self.client.exceptions
        previous = item = self._get(key)
        if item is not None and "lease_until" in item:
            if float(item["lease_until"]["N"]) > now:
                return Verdict(False, now + 1, pending=True), {}
            item = None  # abandoned between key and message: as if never seen
        if item is None or now >= float(item["window_end"]["N"]) + self.interval:
            first_seen, end = now, now + self.interval
        else:
            first_seen, current_end = float(item["first_seen"]["N"]), float(item["window_end"]["N"])
            end = window_end(first_seen, self.interval, now)
            if end <= current_end:
                return Verdict(False, current_end), {}
        new = {"pk": {"S": key}, "first_seen": {"N": repr(first_seen)}, "window_end": {"N": repr(end)},
               "expires_at": {"N": str(int(end + self.interval) + 1)}}
        if lease:
            new["lease_until"] = {"N": repr(now + LEASE_SECONDS)}
        condition, values = "attribute_not_exists(pk)", {}
        if previous is not None:
            condition, values = "window_end = :old", {":old": previous["window_end"]}
        try:
            self.client.put_item(TableName=self.table, Item=new, ConditionExpression=condition,
                                 **({"ExpressionAttributeValues": values} if values else {}))
        except errors.ConditionalCheckFailedException:
            return self._lost_race(key, now), {}
        return Verdict(True, end), new

    def _release(self, key: str, claimed: dict) -> None:
        """The message was not sent: delete our claim (only ours: the lease names it)."""
        try:
            self.client.delete_item(TableName=self.table, Key={"pk": {"S": key}},
                                    ConditionExpression="lease_until = :lease",
                                    ExpressionAttributeValues={":lease": claimed["lease_until"]})
        except Exception as err:  # the lease runs out by itself
            logger.warning("could not release a duplicate key after a failed send: %s", type(err).__name__)

    def _confirm(self, key: str, claimed: dict) -> None:
        try:
            self.client.update_item(TableName=self.table, Key={"pk": {"S": key}},
                                    UpdateExpression="REMOVE lease_until",
                                    ConditionExpression="lease_until = :lease",
                                    ExpressionAttributeValues={":lease": claimed["lease_until"]})
        except Exception as err:  # queued anyway; after the lease a duplicate may pass once
            logger.warning("could not confirm a duplicate key: %s", type(err).__name__)

    def _get(self, key: str) -> dict | None:
        answer = self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True)
        return answer.get("Item")

    def _lost_race(self, key: str, now: float) -> Verdict:
        item = self._get(key)
        if item is not None and "lease_until" in item:
            return Verdict(False, now + 1, pending=True)
        return Verdict(False, float(item["window_end"]["N"]) if item else now + self.interval)
