"""The stores one dispatcher uses, built together for each place it runs.

* ``Stores.sqlite(db)``: serve's file (tables ``ledger_*``, ``status_*``, ``digest_*``,
  ``threads``, ``silences``, ``onchange``, ``incidents``), one file with the queue, so a crash leaves queue and state
  consistent;
* ``Stores.dynamo(table)``: the state table on AWS (one item kind per ``pk`` prefix);
* ``Stores.memory()``: tests and benchmarks: no ledger, no status, digests and threads in an
  in-memory SQLite file (on-change state too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fluxnotify.metrics import Metrics
from fluxnotify.state.digests import DigestStore, DynamoDigests, SqliteDigests
from fluxnotify.state.incidents import DynamoIncidents, IncidentStore, SqliteIncidents
from fluxnotify.state.ledger import DEFAULT_TTL, DynamoLedger, Ledger, NullLedger, SqliteLedger
from fluxnotify.state.onchange import DynamoOnChange, OnChangeStore, SqliteOnChange
from fluxnotify.state.silences import (
    DYNAMO_REFRESH,
    SQLITE_REFRESH,
    ActiveSilences,
    DynamoSilences,
    SqliteSilences,
    StaticSilences,
)
from fluxnotify.state.status import NullRecorder, Recorder
from fluxnotify.state.threads import DynamoThreads, SqliteThreads, ThreadStore


def _memory_onchange() -> OnChangeStore:
    from fluxnotify.queue.sqlite import SqliteDatabase

    return SqliteOnChange(SqliteDatabase(":memory:"))


@dataclass
class Stores:
    ledger: Ledger
    status: Recorder
    digests: DigestStore
    threads: ThreadStore
    silences: ActiveSilences | StaticSilences = field(default_factory=lambda: StaticSilences([]))
    onchange: OnChangeStore = field(default_factory=_memory_onchange)
    incidents: IncidentStore = field(default_factory=lambda: _memory_incidents())

    @classmethod
    def memory(cls, ledger: Ledger | None = None, status: Recorder | None = None) -> Stores:
        from fluxnotify.queue.sqlite import SqliteDatabase

        database = SqliteDatabase(":memory:")
        return cls(ledger or NullLedger(), status or NullRecorder(), SqliteDigests(database), SqliteThreads(database),
                   ActiveSilences(SqliteSilences(database), 0.0), onchange=SqliteOnChange(database),
                   incidents=SqliteIncidents(database))

    @classmethod
    def sqlite(cls, database: Any, metrics: Metrics | None = None) -> Stores:
        from fluxnotify.state.status_sqlite import SqliteStatus

        return cls(SqliteLedger(database), SqliteStatus(database, metrics=metrics), SqliteDigests(database),
                   SqliteThreads(database), ActiveSilences(SqliteSilences(database), SQLITE_REFRESH),
                   onchange=SqliteOnChange(database),
                   incidents=SqliteIncidents(database))

    @classmethod
    def dynamo(cls, table: str, client: Any = None, metrics: Metrics | None = None,
               ledger_ttl: int = DEFAULT_TTL, batched: bool = False) -> Stores:
        """The state table (one client for all: each costs cold-start time); without a table,
        no ledger and no status, and digests and threads in memory. ``batched``: status is
        written at ``status.flush()`` (once per Lambda invocation), not per message."""
        if not table:
            return cls.memory()
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        from fluxnotify.state.status_batch import BatchedStatus
        from fluxnotify.state.status_dynamo import DynamoStatus

        status: Recorder = DynamoStatus(table, client, metrics=metrics)
        if batched:
            status = BatchedStatus(status, metrics)
        return cls(DynamoLedger(table, client=client, ttl=ledger_ttl), status, DynamoDigests(table, client),
                   DynamoThreads(table, client), ActiveSilences(DynamoSilences(table, client), DYNAMO_REFRESH),
                   onchange=DynamoOnChange(table, client), incidents=DynamoIncidents(table, client))


def _memory_incidents() -> IncidentStore:
    from fluxnotify.queue.sqlite import SqliteDatabase

    return SqliteIncidents(SqliteDatabase(":memory:"))
