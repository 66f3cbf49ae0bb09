"""A digest window and what goes into it (state/digests.py): the types, the bounds and the
helpers both stores share (state/digests_sqlite.py, state/digests_dynamo.py)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from fluxnotify.model.event import event_from_data
from fluxnotify.queue import MAX_DELAY_SECONDS

SEVERITY_RANK = {"trace": 0, "info": 1, "error": 2}
KEEP_SECONDS = 7 * 24 * 3600  # how long a window (and what it is made of) outlives its due time
LEASE_SECONDS = 150.0  # > the dispatcher's function timeout (120 s) and serve's visibility timeout
SWEEP_AFTER = MAX_DELAY_SECONDS  # longer windows are flushed by the sweep, not a delayed message
DUE_INDEX = "digest_due"  # DynamoDB: sparse index of the long open windows by due time

MAX_ENTRIES = 500  # lines kept per window (the count goes on)
MAX_LINE_BYTES = 300  # a line is ≤ 300 characters; multi-byte ones are cut to 300 bytes
MAX_TEXT = 256  # bytes of any string of the stored first event
BASE_STRINGS = 11  # the first event's strings: 7 of its object, reason, severity, controller, instance
MAX_BASE_BYTES = BASE_STRINGS * (MAX_TEXT + 32)  # with their JSON names, quotes and escapes


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


def id_hash(message_id: str, size: int = 16) -> str:
    return hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:size]


def cut_bytes(text: str, limit: int) -> str:
    data = text.encode("utf-8", "surrogatepass")
    return text if len(data) <= limit else data[: limit - 3].decode("utf-8", "ignore") + "…"


def bounded_base(base: dict) -> dict:
    """The first event as the digest uses it (object, reason, controller): without its message
    (the digest's lines replace it) and metadata, every string cut to MAX_TEXT bytes:
    at most MAX_BASE_BYTES of JSON."""
    event = event_from_data(base)
    ref = event.involved_object
    ref = replace(ref, **{f: cut_bytes(getattr(ref, f), MAX_TEXT) for f in ref.__dataclass_fields__
                          if isinstance(getattr(ref, f), str)})
    event = replace(event, involved_object=ref, metadata={}, message="", reason=cut_bytes(event.reason, MAX_TEXT),
                    severity=cut_bytes(event.severity, MAX_TEXT),
                    reporting_controller=cut_bytes(event.reporting_controller, MAX_TEXT),
                    reporting_instance=cut_bytes(event.reporting_instance, MAX_TEXT))
    return event.to_dict()


def bounded(entry: Entry) -> Entry:
    return replace(entry, line=cut_bytes(entry.line, MAX_LINE_BYTES), timestamp=entry.timestamp[:40],
                   base=bounded_base(entry.base))
