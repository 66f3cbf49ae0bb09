"""Where digest windows live between their first event and their flush: SQLite or DynamoDB.

A window goes open → closed → sent. ``add`` puts an event into the key's open window
(opening one when there is none) once per queue message id, so a redelivered message is
not counted twice; ``close`` atomically turns the open window into a closed one, so later
events open the next window; ``close`` of a window already closed but not sent returns it
again (a flush that crashed before sending sends it then) once its lease has passed
(FlushBusy before: a second flush message of the same window waits rather than sending it
twice while the first is sending), ``mark_sent`` ends it.

Bounded whatever arrives: the first event is kept without its message and metadata and
with its strings cut (it only names the object and reason of the digest: MAX_BASE_BYTES);
a window keeps MAX_ENTRIES lines of at most MAX_LINE_BYTES (the count goes on).

A window longer than the queue's longest delay (SWEEP_AFTER) gets no delayed flush message
(a chain of 15-minute hops would be stopped by Lambda's recursive-loop detection): it is
listed by ``due`` until ``swept``, and a periodic sweep (digests.sweep) queues its flush.

Stores: ``SqliteDigests`` (state/digests_sqlite.py: serve's file) and ``DynamoDigests``
(state/digests_dynamo.py: the state table, small items, at most 3 write units per event);
the types and bounds they share are in state/digests_window.py. This module is the
interface: every name is importable from here.
"""

from __future__ import annotations

from typing import Protocol

from fluxnotify.state.digests_dynamo import DynamoDigests
from fluxnotify.state.digests_sqlite import SqliteDigests
from fluxnotify.state.digests_window import (
    DUE_INDEX,
    KEEP_SECONDS,
    LEASE_SECONDS,
    MAX_BASE_BYTES,
    MAX_ENTRIES,
    MAX_LINE_BYTES,
    MAX_TEXT,
    SWEEP_AFTER,
    Entry,
    FlushBusy,
    Window,
    bounded,
    bounded_base,
    cut_bytes,
    message_key,
    swept,
    worst,
)

__all__ = ["DUE_INDEX", "DigestStore", "DynamoDigests", "Entry", "FlushBusy", "KEEP_SECONDS",
           "LEASE_SECONDS", "MAX_BASE_BYTES", "MAX_ENTRIES", "MAX_LINE_BYTES", "MAX_TEXT", "SWEEP_AFTER",
           "SqliteDigests", "Window", "bounded", "bounded_base", "cut_bytes", "message_key", "swept",
           "worst"]


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
