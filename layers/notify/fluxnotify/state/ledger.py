"""The delivery ledger: what a queue message already delivered, and who owns each retry step.

Keyed by the message id (the receiver's, kept by every follow-up):

* ``delivered(id, targets)`` is written once per message, right after its fan-out, with
  every target (an Alert, ``namespace/name``) delivered in it; ``begin`` returns those
  targets, so a redelivered message sends only what is missing (a crash during the fan-out
  may repeat that fan-out's deliveries: docs/delivery.md);
* ``begin(id, step, owner)`` also claims one step of the retry chain (``step`` names the
  chain and the attempt) for the queue message that carries it (``owner``, the SQS or
  SQLite message id, stable across redeliveries of that message). A second copy of the
  same step — a follow-up written twice — finds another owner and is dropped, so a
  redelivery cannot fork a second retry chain;
* ``complete(id, step)`` marks the step handled once its follow-ups (retry, dead letters)
  are written: a redelivery of a completed step does nothing at all.

Entries expire after Settings.ledger_ttl seconds (LEDGER_TTL, default 14 days: the DLQ's retention, so a
replayed dead letter still skips what was delivered). On AWS: one DynamoDB item per
message in the state table (``pk`` = ``ledger#<id>``, a string set of delivered targets,
one attribute per claimed step, TTL ``expires_at``); locally: two SQLite tables.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import Any, Protocol

DEFAULT_TTL = 14 * 24 * 3600  # Settings.ledger_ttl
PREFIX = "ledger#"


class Ledger(Protocol):
    def begin(self, message_id: str, step: str, owner: str, claim: bool = True) -> set[str] | None:
        """Claim the step for owner; the targets already delivered, or None (another owner,
        or the step is complete). ``claim=False`` only reads: for a step that has one copy
        (the receiver's message: SQS redelivers that copy, with the same owner)."""
        ...

    def delivered(self, message_id: str, targets: Collection[str]) -> None: ...

    def complete(self, message_id: str, step: str) -> None: ...


class NullLedger:
    """No memory (tests, benchmarks): every copy proceeds, nothing counts as delivered."""

    def begin(self, message_id: str, step: str, owner: str, claim: bool = True) -> set[str] | None:
        return set()

    def delivered(self, message_id: str, targets: Collection[str]) -> None:
        pass

    def complete(self, message_id: str, step: str) -> None:
        pass


class DynamoLedger:
    """One item per message: one write per message that delivered something; a read per
    redelivered first-attempt message (the dispatcher skips it for a first receipt), a write
    per follow-up (the claim) and per step with retries (complete)."""

    def __init__(self, table_name: str, client: Any = None, ttl: int | None = None):
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client
        self.table = table_name
        self.ttl = ttl if ttl is not None else DEFAULT_TTL

    def _expires(self) -> dict[str, str]:
        return {"N": str(int(time.time()) + self.ttl)}

    def begin(self, message_id: str, step: str, owner: str, claim: bool = True) -> set[str] | None:
        if not claim:
            item = self.client.get_item(TableName=self.table, Key={"pk": {"S": PREFIX + message_id}}).get("Item", {})
            return None if "done " + step in item else set(item.get("delivered", {}).get("SS", []))
        item = self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": PREFIX + message_id}},
            UpdateExpression="SET #step = if_not_exists(#step, :owner), expires_at = :expires",
            ExpressionAttributeNames={"#step": "step " + step},
            ExpressionAttributeValues={":owner": {"S": owner or "-"}, ":expires": self._expires()},
            ReturnValues="ALL_NEW",
        )["Attributes"]
        if item["step " + step]["S"] != (owner or "-") or "done " + step in item:
            return None
        return set(item.get("delivered", {}).get("SS", []))

    def complete(self, message_id: str, step: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": PREFIX + message_id}},
            UpdateExpression="SET #done = :yes, expires_at = :expires",
            ExpressionAttributeNames={"#done": "done " + step},
            ExpressionAttributeValues={":yes": {"BOOL": True}, ":expires": self._expires()},
        )

    def delivered(self, message_id: str, targets: Collection[str]) -> None:
        if not targets:
            return
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": PREFIX + message_id}},
            UpdateExpression="ADD delivered :targets SET expires_at = :expires",
            ExpressionAttributeValues={":targets": {"SS": sorted(set(targets))}, ":expires": self._expires()},
        )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_steps (
    message_id TEXT NOT NULL, step TEXT NOT NULL, owner TEXT NOT NULL, expires_at REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (message_id, step));
CREATE TABLE IF NOT EXISTS ledger_delivered (
    message_id TEXT NOT NULL, target TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (message_id, target));
"""


class SqliteLedger:
    """The same in the serve database (``queue.sqlite.SqliteDatabase``)."""

    SWEEP_EVERY = 3600.0

    def __init__(self, database: Any, ttl: int | None = None):
        self.db = database
        self.ttl = ttl if ttl is not None else DEFAULT_TTL
        with self.db.lock:
            self.db.connection.executescript(_SCHEMA)
        self._last_sweep = 0.0
        self._sweep_lock = threading.Lock()

    def begin(self, message_id: str, step: str, owner: str, claim: bool = True) -> set[str] | None:
        now = time.time()  # one SQLite file, one dispatcher process: claiming costs nothing extra
        self._sweep(now)
        self.db.execute(
            "INSERT OR IGNORE INTO ledger_steps (message_id, step, owner, expires_at) VALUES (?, ?, ?, ?)",
            (message_id, step, owner, now + self.ttl),
        )
        rows = self.db.execute(
            "SELECT owner, done FROM ledger_steps WHERE message_id = ? AND step = ?", (message_id, step)
        )
        if rows[0][0] != owner or rows[0][1]:
            return None
        rows = self.db.execute("SELECT target FROM ledger_delivered WHERE message_id = ?", (message_id,))
        return {row[0] for row in rows}

    def delivered(self, message_id: str, targets: Collection[str]) -> None:
        expires = time.time() + self.ttl
        for target in targets:
            self.db.execute("INSERT OR REPLACE INTO ledger_delivered VALUES (?, ?, ?)", (message_id, target, expires))

    def complete(self, message_id: str, step: str) -> None:
        self.db.execute("UPDATE ledger_steps SET done = 1 WHERE message_id = ? AND step = ?", (message_id, step))

    def _sweep(self, now: float) -> None:
        with self._sweep_lock:
            if now - self._last_sweep < self.SWEEP_EVERY:
                return
            self._last_sweep = now
        self.db.execute("DELETE FROM ledger_steps WHERE expires_at < ?", (now,))
        self.db.execute("DELETE FROM ledger_delivered WHERE expires_at < ?", (now,))
