"""What the executor writes about its deliveries: the result of one target, dead letters,
back-off, and the per-message report (logs, metrics, status) — each in one place.

Dead letter bodies (the DLQ): ``{"event", "targets", "attempt", "provider", "type", "error",
"reason", "failed_at", "id", "cluster"}``; an undecodable message: ``{"raw", "error", "reason",
"failed_at"}``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from fluxnotify.errors import Outcome
from fluxnotify.metrics import Metrics
from fluxnotify.model.event import Event
from fluxnotify.queue import MAX_DELAY_SECONDS
from fluxnotify.queue.messages import Envelope

logger = logging.getLogger("fluxnotify.delivery.dispatcher")  # the name operators filter on


@dataclass
class TargetResult:
    target: str  # the Alert, namespace/name
    provider: str = ""  # the Provider, namespace/name
    provider_type: str = ""
    outcome: Outcome = Outcome.DELIVERED
    detail: str = ""  # skip rule or (redacted) error
    retry_after: float | None = None
    seconds: float = 0.0


def backoff(retry_base: float, attempt: int, retry_after: list[float | None]) -> int:
    """Exponential back-off with jitter; a provider's Retry-After wins when given."""
    hinted = [seconds for seconds in retry_after if seconds is not None]
    if hinted:
        return min(MAX_DELAY_SECONDS, math.ceil(max(hinted)))
    delay = retry_base * 2 ** (attempt - 1)
    return min(MAX_DELAY_SECONDS, math.ceil(delay * random.uniform(0.8, 1.0)))


def dead_letter(envelope: Envelope, result: TargetResult) -> str:
    return json.dumps({
        "event": envelope.event,
        "targets": [result.target],
        "attempt": envelope.attempt,
        "provider": result.provider,
        "type": result.provider_type,
        "error": result.detail,
        "reason": "retries exhausted" if result.detail.startswith("giving up") else "permanent failure",
        "failed_at": now_text(),
        "id": envelope.id,
        "cluster": envelope.cluster,
    }, ensure_ascii=False)


def raw_letter(body: str, error: str) -> str:
    logger.error("undecodable message sent to the dead-letter queue", extra={"error": error})
    return json.dumps({"raw": body[:200_000], "error": error, "reason": "undecodable message",
                       "failed_at": now_text()}, ensure_ascii=False)


class Tally:
    """What an invocation's messages came to, for its one summary line (delivery/batch.py).

    ``each_at``: the level of the per-message lines of what went well ("delivered", "skipped
    by rule", "no alert matches"): INFO for the local stack's terminal, DEBUG on Lambda, where
    the summary line says it per invocation. Failures and dead letters are WARNING always.
    """

    def __init__(self, each_at: int = logging.INFO):
        self.each_at = each_at
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, *outcomes: str) -> None:
        with self._lock:
            self._counts.update(outcomes)

    def take(self) -> dict[str, int]:
        """The counts since the last call (one invocation's), reset."""
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        return counts


def report(event: Event, envelope: Envelope, results: list[TargetResult], metrics: Metrics,
           tally: Tally | None = None) -> None:
    """One log line for the deliveries that succeeded, one per skip (with its rule) and
    per failure (with its redacted error); metrics for every target."""
    tally = tally or Tally()
    tally.add(*(str(r.outcome) for r in results))
    common = {**event_fields(event), "attempt": envelope.attempt, "message_id": envelope.id}
    delivered = [r.provider for r in results if r.outcome == Outcome.DELIVERED]
    if delivered:
        logger.log(tally.each_at, "delivered", extra={**common, "providers": delivered})
    for result in results:
        if result.outcome != Outcome.DELIVERED:
            _log_one(common, result, tally.each_at)
        _measure(result, metrics)


def _log_one(common: dict, result: TargetResult, each_at: int) -> None:
    fields = {**common, "alert": result.target, "provider": result.provider, "provider_type":
              result.provider_type, "outcome": result.outcome, "duration_ms": round(result.seconds * 1000, 1)}
    if result.outcome == Outcome.SKIPPED:
        logger.log(each_at, "skipped by rule", extra={**fields, "rule": result.detail})
    else:
        logger.warning("delivery failed", extra={**fields, "error": result.detail})


def _measure(result: TargetResult, metrics: Metrics) -> None:
    dimensions = {"ProviderType": result.provider_type or "unknown"}
    for name in Outcome(result.outcome).metric_names:
        metrics.count(name, dimensions)
    if result.outcome == Outcome.DELIVERED:  # its SampleCount is the deliveries: no second metric to pay for
        metrics.milliseconds("DeliveryLatency", result.seconds * 1000, dimensions)


def event_fields(event: Event) -> dict[str, str]:
    ref = event.involved_object
    return {"object": f"{ref.kind}/{ref.namespace}/{ref.name}", "reason": event.reason}


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
