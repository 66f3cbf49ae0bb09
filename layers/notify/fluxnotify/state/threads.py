"""Slack thread parents: the ``ts`` of the first post about an object, per Provider and cluster.

DynamoDB items ``thread#<provider>#<cluster>#<Kind/ns/name>`` (TTL ``expires_at``) in the state
table on AWS, the table ``threads`` of serve's SQLite file locally (delivery/stages/threads.py uses them).
"""

from __future__ import annotations

import time
from typing import Any, Protocol


class ThreadStore(Protocol):
    def get(self, key: str, now: float | None = None) -> str | None: ...

    def put(self, key: str, ts: str, ttl: float, now: float | None = None) -> None: ...


class SqliteThreads:
    def __init__(self, database: Any):
        self.db = database
        self.db.execute("CREATE TABLE IF NOT EXISTS threads (key TEXT PRIMARY KEY, ts TEXT, expires_at REAL)")

    def get(self, key: str, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        rows = self.db.execute("SELECT ts FROM threads WHERE key = ? AND expires_at > ?", (key, now))
        return rows[0][0] if rows else None

    def put(self, key: str, ts: str, ttl: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.db.execute("INSERT OR REPLACE INTO threads VALUES (?, ?, ?)", (key, ts, now + ttl))
        self.db.execute("DELETE FROM threads WHERE expires_at <= ?", (now,))


class DynamoThreads:
    def __init__(self, table: str, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client
        self.table = table

    def get(self, key: str, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": f"thread#{key}"}},
                                    ConsistentRead=True).get("Item")
        # DynamoDB deletes expired items lazily: check the TTL ourselves.
        if item is None or float(item["expires_at"]["N"]) <= now:
            return None
        return item["ts"]["S"]

    def put(self, key: str, ts: str, ttl: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.client.put_item(TableName=self.table, Item={
            "pk": {"S": f"thread#{key}"}, "ts": {"S": ts}, "expires_at": {"N": str(int(now + ttl))},
        })
