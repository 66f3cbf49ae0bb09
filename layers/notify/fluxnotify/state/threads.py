"""Slack thread parents: the ``ts`` of the first post about an object, per Provider and cluster.

DynamoDB items ``thread#<provider>#<cluster>#<Kind/ns/name>`` (TTL ``expires_at``) in the state
table on AWS, the table ``threads`` of serve's SQLite file locally (delivery/stages/threads.py
uses them).

The parent is *claimed* before it is posted (``claim``: SQLite INSERT OR IGNORE in a
transaction, a conditional put on DynamoDB), so of a burst of events about one object exactly
one posts the parent; the others see the claim (``get`` answers ``""``: pending) and wait for
the parent's ``ts``. A claim expires after CLAIM_SECONDS, so a dispatcher that died while
posting does not hold the object's thread for long.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

CLAIM_SECONDS = 30.0
PENDING = ""  # get(): claimed, the parent not posted yet


class ThreadStore(Protocol):
    def get(self, key: str, now: float | None = None) -> str | None:
        """The parent's ts, PENDING while it is being posted, None without a live thread."""
        ...

    def claim(self, key: str, now: float | None = None) -> bool:
        """True for the one caller that may post the parent."""
        ...

    def put(self, key: str, ts: str, ttl: float, now: float | None = None) -> None: ...

    def release(self, key: str) -> None:
        """Give a claim up (the parent could not be posted): the next event claims again."""
        ...


class SqliteThreads:
    def __init__(self, database: Any):
        self.db = database
        self.db.execute("CREATE TABLE IF NOT EXISTS threads (key TEXT PRIMARY KEY, ts TEXT, expires_at REAL)")

    def get(self, key: str, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        rows = self.db.execute("SELECT ts FROM threads WHERE key = ? AND expires_at > ?", (key, now))
        return rows[0][0] if rows else None

    def claim(self, key: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        with self.db.lock:  # one transaction: drop an expired row, then insert if absent
            connection = self.db.connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute("DELETE FROM threads WHERE key = ? AND expires_at <= ?", (key, now))
                claimed = connection.execute("INSERT OR IGNORE INTO threads VALUES (?, ?, ?)",
                                             (key, PENDING, now + CLAIM_SECONDS)).rowcount == 1
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
        return claimed

    def put(self, key: str, ts: str, ttl: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.db.execute("INSERT OR REPLACE INTO threads VALUES (?, ?, ?)", (key, ts, now + ttl))
        self.db.execute("DELETE FROM threads WHERE expires_at <= ?", (now,))

    def release(self, key: str) -> None:
        self.db.execute("DELETE FROM threads WHERE key = ? AND ts = ?", (key, PENDING))


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
        return item["ts"]["S"] if "ts" in item else PENDING

    def claim(self, key: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        try:
            self.client.put_item(
                TableName=self.table,
                Item={"pk": {"S": f"thread#{key}"}, "claimed_at": {"N": repr(now)},
                      "expires_at": {"N": str(int(now + CLAIM_SECONDS))}},
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def put(self, key: str, ts: str, ttl: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.client.put_item(TableName=self.table, Item={
            "pk": {"S": f"thread#{key}"}, "ts": {"S": ts}, "expires_at": {"N": str(int(now + ttl))},
        })

    def release(self, key: str) -> None:
        try:
            self.client.delete_item(TableName=self.table, Key={"pk": {"S": f"thread#{key}"}},
                                    ConditionExpression="attribute_not_exists(ts)")
        except self.client.exceptions.ConditionalCheckFailedException:
            pass  # a kept parent: nothing to give up
