"""Open incidents: what an error opened at a Provider, kept until a recovery resolves it.

One marker per (Provider, Alert, cluster, object) (delivery/stages/resolve.py builds the key),
holding the incidents that object's errors opened there: one *entry* per distinct incident
(the Opsgenie alias, the Alertmanager labels), each a small JSON object the provider module
made (``incident(event, cfg)``) and turns back into its resolve form (``encode_resolve``).

Bounded: at most MAX_ENTRIES entries per marker (the newest kept), an entry of at most
MAX_ENTRY_BYTES (a larger one is not kept: that incident will not be resolved, as today),
and every marker expires after its TTL (DynamoDB TTL on ``expires_at``; SQLite drops expired
rows on every write and keeps at most MAX_ROWS rows, the oldest going first).

DynamoDB items ``incident#<key>``, one attribute ``e_<id>`` per entry, so two errors written at
once both stay (an UpdateItem per entry, no read-modify-write). The table ``incidents`` of
serve's SQLite file locally.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_TTL = 30 * 24 * 3600  # an incident open longer than this is not resolved by fluxnotify
MAX_ENTRIES = 16
MAX_ENTRY_BYTES = 8 * 1024  # 16 × 8 KiB stays far below DynamoDB's 400 KB item limit
MAX_ROWS = 100_000


class IncidentStore(Protocol):
    def opened(self, key: str, now: float | None = None) -> list[dict[str, Any]]:
        """The live entries of a marker, oldest first ([] when none)."""
        ...

    def open(self, key: str, entry_id: str, entry: dict[str, Any], ttl: float = DEFAULT_TTL,
             now: float | None = None) -> bool:
        """Keep an entry (False: too large, not kept)."""
        ...

    def clear(self, key: str) -> None: ...

    def count(self) -> int:
        """Live markers (status page, tests)."""
        ...


def encode(entry: dict[str, Any]) -> str | None:
    text = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text if len(text.encode("utf-8", "surrogatepass")) <= MAX_ENTRY_BYTES else None


class SqliteIncidents:
    def __init__(self, database: Any):
        self.db = database
        self.db.execute("CREATE TABLE IF NOT EXISTS incidents (key TEXT, entry_id TEXT, entry TEXT, "
                        "opened_at REAL, expires_at REAL, PRIMARY KEY (key, entry_id))")

    def opened(self, key: str, now: float | None = None) -> list[dict[str, Any]]:
        now = time.time() if now is None else now
        rows = self.db.execute("SELECT entry FROM incidents WHERE key = ? AND expires_at > ? "
                               "ORDER BY opened_at, entry_id", (key, now))
        return [json.loads(row[0]) for row in rows]

    def open(self, key: str, entry_id: str, entry: dict[str, Any], ttl: float = DEFAULT_TTL,
             now: float | None = None) -> bool:
        now = time.time() if now is None else now
        text = encode(entry)
        if text is None:
            return False
        with self.db.lock:
            self.db.execute("INSERT OR REPLACE INTO incidents VALUES (?, ?, ?, ?, ?)",
                            (key, entry_id, text, now, now + ttl))
            self.db.execute("DELETE FROM incidents WHERE key = ? AND entry_id NOT IN (SELECT entry_id FROM "
                            "incidents WHERE key = ? ORDER BY opened_at DESC, entry_id LIMIT ?)",
                            (key, key, MAX_ENTRIES))
            self.db.execute("DELETE FROM incidents WHERE expires_at <= ?", (now,))
            self.db.execute("DELETE FROM incidents WHERE rowid IN (SELECT rowid FROM incidents "
                            "ORDER BY opened_at DESC LIMIT -1 OFFSET ?)", (MAX_ROWS,))
        return True

    def clear(self, key: str) -> None:
        self.db.execute("DELETE FROM incidents WHERE key = ?", (key,))

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(DISTINCT key) FROM incidents WHERE expires_at > ?",
                               (time.time(),))[0][0]


class ReadOnlyIncidents:
    """`render --db`: the open incidents of a serve database, read without writing anything
    (no schema created, no expired row dropped)."""

    def __init__(self, path: str):
        import pathlib
        import sqlite3

        self.connection = sqlite3.connect(pathlib.Path(path).resolve().as_uri() + "?mode=ro", uri=True)
        self.errors = sqlite3.Error

    def opened(self, key: str, now: float | None = None) -> list[dict[str, Any]]:
        now = time.time() if now is None else now
        try:
            rows = self.connection.execute("SELECT entry FROM incidents WHERE key = ? AND expires_at > ? "
                                           "ORDER BY opened_at, entry_id", (key, now)).fetchall()
        except self.errors:  # no incident was ever kept there
            return []
        return [json.loads(row[0]) for row in rows]


class DynamoIncidents:
    def __init__(self, table: str, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client
        self.table = table

    def _key(self, key: str) -> dict[str, Any]:
        return {"pk": {"S": f"incident#{key}"}}

    def _entries(self, key: str, now: float) -> list[tuple[str, dict[str, Any]]]:
        """(attribute, entry) oldest first."""
        item = self.client.get_item(TableName=self.table, Key=self._key(key), ConsistentRead=True).get("Item")
        if item is None or float(item["expires_at"]["N"]) <= now:  # TTL deletes lazily
            return []
        entries = [(name, json.loads(value["S"])) for name, value in item.items() if name.startswith("e_")]
        return sorted(entries, key=lambda pair: (pair[1].get("opened_at", 0), pair[0]))

    def opened(self, key: str, now: float | None = None) -> list[dict[str, Any]]:
        now = time.time() if now is None else now
        return [{k: v for k, v in entry.items() if k != "opened_at"} for _, entry in self._entries(key, now)]

    def open(self, key: str, entry_id: str, entry: dict[str, Any], ttl: float = DEFAULT_TTL,
             now: float | None = None) -> bool:
        now = time.time() if now is None else now
        text = encode({**entry, "opened_at": round(now, 3)})
        if text is None:
            return False
        name = f"e_{entry_id}"[:255]
        update, names = "SET #e = :entry, expires_at = :expires", {"#e": name}
        entries = [n for n, _ in self._entries(key, now) if n != name]
        if len(entries) >= MAX_ENTRIES:  # bounded: the oldest goes, the item never nears its limit
            update += " REMOVE " + ", ".join(f"#old{i}" for i in range(len(entries) - MAX_ENTRIES + 1))
            names.update({f"#old{i}": n for i, n in enumerate(entries[:len(entries) - MAX_ENTRIES + 1])})
        self.client.update_item(
            TableName=self.table, Key=self._key(key), UpdateExpression=update, ExpressionAttributeNames=names,
            ExpressionAttributeValues={":entry": {"S": text}, ":expires": {"N": str(int(now + ttl))}},
        )
        return True

    def clear(self, key: str) -> None:
        self.client.delete_item(TableName=self.table, Key=self._key(key))

    def count(self) -> int:
        pages = self.client.get_paginator("scan").paginate(
            TableName=self.table, FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": "incident#"}}, Select="COUNT")
        return sum(page["Count"] for page in pages)


@dataclass(frozen=True)
class Step:
    """What a plan item does with incidents (delivery/stages/resolve.py): ``opens`` (an error: the
    entry to keep once delivered), ``resolves`` (a recovery: the entries to resolve instead of
    sending the event), or neither (render without state: ``note`` says what would happen)."""

    key: str
    entry_id: str = ""
    opens: dict[str, Any] | None = None
    resolves: tuple[dict[str, Any], ...] = ()
    note: str = ""
