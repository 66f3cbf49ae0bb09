"""Delivery status per Provider and per Alert: what `fluxnotify status`, the local status
page and `validate --from-aws` (condition `Delivering`) show.

For each Provider and Alert: the last attempt (time, outcome, detail), the last error
(redacted: the dispatcher's details are), the last delivered event (object and reason) and
counts per outcome over the last hour and 24 hours. Counts are kept in 5-minute slots, so
"last hour" covers the current slot and the 11 before it.

The dispatcher calls ``record(event, envelope, results)`` once per message, and the
dispatcher Lambda ``flush()`` once per invocation (a batching recorder writes then). A recorder
never raises: a failing status write is logged and counted (metric ``StatusWriteFailed``)
and the delivery goes on — status is a view, the queue and the ledger are the truth.

Stores: ``SqliteStatus`` (state/status_sqlite.py, the `serve` database, tables
``status_*``), ``DynamoStatus`` (state/status_dynamo.py, the state table, ``pk`` prefix
``status#``), ``BatchedStatus`` (state/status_batch.py: one invocation's outcomes merged and
written at its end), ``NullRecorder``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from fluxnotify import errors
from fluxnotify.metrics import Metrics, NullMetrics

logger = logging.getLogger(__name__)

DELIVERED, SKIPPED = errors.Outcome.DELIVERED.status_name, errors.Outcome.SKIPPED.status_name
RETRYING, DEAD_LETTERED = errors.Outcome.RETRY.status_name, errors.Outcome.DEAD.status_name
OUTCOMES = (DELIVERED, SKIPPED, RETRYING, DEAD_LETTERED)
FAILURES = (RETRYING, DEAD_LETTERED)
_RANK = {SKIPPED: 0, DELIVERED: 1, RETRYING: 2, DEAD_LETTERED: 3}
SLOT_SECONDS = 300
HOUR, DAY = 3600, 86400
KINDS = ("Provider", "Alert")
PAIR = "Pair"  # an (Alert, Provider) pair: what the DynamoDB store writes


@dataclass(slots=True)  # not frozen: built for every target of every message (a third of the time)
class Outcome:
    """One target's outcome for one message."""

    at: float
    alert: str  # namespace/name
    provider: str  # namespace/name
    provider_type: str
    outcome: str  # one of OUTCOMES
    detail: str  # the skip rule or the redacted error
    object: str  # Kind/namespace/name of the event's object
    reason: str  # the event's reason
    attempt: int = 1
    cluster: str = ""  # the cluster the event came from ("default": the unnamed one)

    def subjects(self) -> list[tuple[str, str]]:
        return [(kind, key) for kind, key in (("Provider", self.provider), ("Alert", self.alert)) if key]


@dataclass
class ObjectStatus:
    kind: str  # Provider or Alert
    key: str  # namespace/name
    provider_type: str = ""
    last_at: float | None = None
    last_outcome: str = ""
    last_detail: str = ""
    last_error: str = ""
    last_error_at: float | None = None
    delivered_at: float | None = None
    delivered_object: str = ""
    delivered_reason: str = ""
    last_hour: dict[str, int] = field(default_factory=dict)
    last_day: dict[str, int] = field(default_factory=dict)
    cluster: str = ""  # of the last attempt (the SQLite store records it)
    provider: str = ""  # an Alert's Provider at its last attempt (the SQLite store records it)

    @property
    def failing(self) -> bool:
        return self.last_outcome in FAILURES

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "name": self.key, "type": self.provider_type,
            "lastAttempt": iso(self.last_at), "lastOutcome": self.last_outcome, "lastDetail": self.last_detail,
            "lastError": self.last_error, "lastErrorAt": iso(self.last_error_at),
            "lastDelivered": None if self.delivered_at is None else {
                "at": iso(self.delivered_at), "object": self.delivered_object, "reason": self.delivered_reason},
            "lastHour": full_counts(self.last_hour), "last24h": full_counts(self.last_day),
            "failing": self.failing,
        }


@dataclass
class Change:
    """What one message changes for one Provider or Alert (outcomes merged)."""

    kind: str
    key: str
    last: Outcome
    delivered: Outcome | None = None
    error: Outcome | None = None
    counts: Counter = field(default_factory=Counter)  # (slot start, outcome) → n


class Recorder(Protocol):
    def record(self, event: Any, envelope: Any, results: list[Any]) -> None: ...

    def flush(self, timeout: float | None = None) -> None:
        """Write what was recorded and not yet written (a batching recorder); never raises."""


class NullRecorder:
    def record(self, event: Any, envelope: Any, results: list[Any]) -> None:
        pass

    def flush(self, timeout: float | None = None) -> None:
        pass


class SafeRecorder:
    """The part every store shares: turn results into outcomes, write, never raise."""

    def __init__(self, metrics: Metrics | None = None):
        self.metrics = metrics or NullMetrics()

    def record(self, event: Any, envelope: Any, results: list[Any]) -> None:
        try:
            outcomes = outcomes_of(event, envelope, results)
            if outcomes:
                self.write(outcomes)
        except Exception as err:  # status is a view: never fail or repeat a delivery for it
            logger.warning("delivery status not recorded", extra={"error": f"{type(err).__name__}: {err}"})
            self.metrics.count("StatusWriteFailed")

    def write(self, outcomes: list[Outcome]) -> None:
        raise NotImplementedError

    def flush(self, timeout: float | None = None) -> None:
        pass  # written at once


def outcomes_of(event: Any, envelope: Any, results: list[Any], now: float | None = None) -> list[Outcome]:
    now = time.time() if now is None else now
    ref = event.involved_object
    subject, reason = f"{ref.kind}/{ref.namespace}/{ref.name}", event.reason  # once per message, not per target
    attempt, cluster = getattr(envelope, "attempt", 1), getattr(envelope, "cluster", "")
    return [Outcome(now, r.target, r.provider, r.provider_type, _STATUS_NAME[r.outcome], r.detail, subject, reason,
                    attempt, cluster)
            for r in results if r.target]


_STATUS_NAME = {outcome: outcome.status_name for outcome in errors.Outcome} | {
    outcome.value: outcome.status_name for outcome in errors.Outcome}  # a result's outcome: the enum or its value


def changes(outcomes: list[Outcome]) -> list[Change]:
    """One Change per Provider and Alert touched: stores write each object once per message
    (or per invocation: state/status_batch.py)."""
    return _merged(outcomes, Outcome.subjects)


def changes_by_pair(outcomes: list[Outcome]) -> list[Change]:
    """One Change per (Alert, Provider) pair touched, key ``<alert>#<provider>`` (the
    DynamoDB store writes pairs and merges them per Provider and Alert when read)."""
    return _merged(outcomes, lambda outcome: [(PAIR, f"{outcome.alert}#{outcome.provider}")])


def _merged(outcomes: list[Outcome], subjects_of) -> list[Change]:
    merged: dict[tuple[str, str], Change] = {}
    for outcome in outcomes:
        place, counted = (outcome.at, rank(outcome.outcome)), (slot_of(outcome.at), outcome.outcome)
        for subject in subjects_of(outcome):
            change = merged.get(subject)
            if change is None:  # a Change (and its Counter) only for a new subject
                change = merged[subject] = Change(subject[0], subject[1], outcome)
            if place >= (change.last.at, rank(change.last.outcome)):
                change.last = outcome  # at the same instant the worse outcome is the one to show
            if outcome.outcome == DELIVERED and _later(outcome, change.delivered):
                change.delivered = outcome
            if outcome.outcome in FAILURES and _later(outcome, change.error):
                change.error = outcome
            change.counts[counted] += 1
    return list(merged.values())


def rank(outcome: str) -> int:
    """At the same instant the worse outcome is the one to show."""
    return _RANK.get(outcome, 0)


def merge(into: ObjectStatus, other: ObjectStatus) -> ObjectStatus:
    """``other``'s status added to ``into`` (a Provider's or Alert's from its (Alert,
    Provider) pairs): the newest of each last-* group, counts summed."""
    if other.last_at is not None and (into.last_at is None or (other.last_at, rank(other.last_outcome))
                                      >= (into.last_at, rank(into.last_outcome))):
        into.last_at, into.last_outcome, into.last_detail = other.last_at, other.last_outcome, other.last_detail
        into.provider_type, into.provider = other.provider_type or into.provider_type, other.provider
    if other.last_error_at is not None and (into.last_error_at is None or other.last_error_at >= into.last_error_at):
        into.last_error_at, into.last_error = other.last_error_at, other.last_error
    if other.delivered_at is not None and (into.delivered_at is None or other.delivered_at >= into.delivered_at):
        into.delivered_at, into.delivered_object = other.delivered_at, other.delivered_object
        into.delivered_reason = other.delivered_reason
    into.provider_type = into.provider_type or other.provider_type
    for mine, theirs in ((into.last_hour, other.last_hour), (into.last_day, other.last_day)):
        for outcome, n in theirs.items():
            mine[outcome] = mine.get(outcome, 0) + n
    return into


def _later(outcome: Outcome, than: Outcome | None) -> bool:
    return than is None or outcome.at >= than.at  # a batch's outcomes come in any order


def slot_of(at: float) -> int:
    return int(at // SLOT_SECONDS) * SLOT_SECONDS


def window_counts(rows: list[tuple[int, str, int]], now: float) -> tuple[dict[str, int], dict[str, int]]:
    """(slot start, outcome, n) rows → counts over the last hour and the last 24 hours."""
    hour: Counter[str] = Counter()
    day: Counter[str] = Counter()
    current = slot_of(now)
    for slot, outcome, n in rows:
        if slot > current - HOUR:
            hour[outcome] += n
        if slot > current - DAY:
            day[outcome] += n
    return dict(hour), dict(day)


def full_counts(counts: dict[str, int]) -> dict[str, int]:
    return {outcome: int(counts.get(outcome, 0)) for outcome in OUTCOMES}


def iso(at: float | None) -> str | None:
    if at is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def sort_key(status: ObjectStatus) -> tuple:
    return (KINDS.index(status.kind) if status.kind in KINDS else 9, status.key)
