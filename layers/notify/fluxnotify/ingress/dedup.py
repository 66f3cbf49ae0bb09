"""Duplicate-event suppression at the door (spec §2.6), shared by every receiver.

Fixed windows anchored at a key's first sighting: window k covers
[t0 + k·I, t0 + (k+1)·I); the first request of each window passes. A key unused
for 2·I is forgotten (TTL on DynamoDB, a sweep in SQLite).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reset: float  # end of the current window, Unix seconds


class DedupStore(Protocol):
    def take(self, key: str, now: float | None = None) -> Verdict: ...


def window_end(first_seen: float, interval: float, now: float) -> float:
    k = math.floor((now - first_seen) / interval)
    return first_seen + (k + 1) * interval


class NoDedup:
    """Suppression off (RATE_LIMIT_INTERVAL=0)."""

    def take(self, key: str, now: float | None = None) -> Verdict:
        return Verdict(True, now if now is not None else time.time())


class SqliteDedup:
    def __init__(self, database: Any, interval: float):
        self.db = database
        self.interval = interval
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS dedup (key TEXT PRIMARY KEY, first_seen REAL, window_end REAL)"
        )
        self._last_sweep = 0.0
        self._lock = threading.Lock()

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
    """Conditional writes, so concurrent receivers agree on who passes."""

    def __init__(self, table_name: str, interval: float, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client
        self.table = table_name
        self.interval = interval

    def take(self, key: str, now: float | None = None) -> Verdict:
        now = time.time() if now is None else now
        errors = self.client.exceptions
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        if item is None or now >= float(item["window_end"]["N"]) + self.interval:
            end = now + self.interval
            condition = "attribute_not_exists(pk)" if item is None else "window_end = :old"
            values = {} if item is None else {":old": item["window_end"]}
            try:
                self.client.put_item(
                    TableName=self.table,
                    Item={"pk": {"S": key}, "first_seen": {"N": repr(now)}, "window_end": {"N": repr(end)},
                          "expires_at": {"N": str(int(end + self.interval) + 1)}},
                    ConditionExpression=condition,
                    **({"ExpressionAttributeValues": values} if values else {}),
                )
            except errors.ConditionalCheckFailedException:
                return self._lost_race(key, now)
            return Verdict(True, end)
        first_seen, current_end = float(item["first_seen"]["N"]), float(item["window_end"]["N"])
        end = window_end(first_seen, self.interval, now)
        if end <= current_end:
            return Verdict(False, current_end)
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": key}},
                UpdateExpression="SET window_end = :end, expires_at = :exp",
                ConditionExpression="window_end = :old",
                ExpressionAttributeValues={":end": {"N": repr(end)}, ":old": item["window_end"],
                                           ":exp": {"N": str(int(end + self.interval) + 1)}},
            )
        except errors.ConditionalCheckFailedException:
            return self._lost_race(key, now)
        return Verdict(True, end)

    def _lost_race(self, key: str, now: float) -> Verdict:
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item")
        return Verdict(False, float(item["window_end"]["N"]) if item else now + self.interval)
