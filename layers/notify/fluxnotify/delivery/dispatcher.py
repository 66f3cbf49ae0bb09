"""Dispatcher logic: one queue message = one event → every matching Alert's Provider.

Message bodies (JSON):

* from the receiver: ``{"event": <event>, "attempt": 1, "targets": null, "id": ...}``;
* a retry: the same with ``attempt`` > 1 and ``targets`` naming only the Alerts
  (``namespace/name``) whose delivery failed with a retryable error;
* a dead letter (DLQ): ``{"event", "targets", "attempt", "provider", "type", "error",
  "reason", "failed_at"}`` — moved back by ``fluxnotify replay``, it starts again at
  attempt 1 for its targets only;
* a bare Flux event is accepted too (e.g. a hand-written SQS test message).

Each target ends delivered, skipped by a rule (logged with the rule), re-queued with
back-off (retryable failures, spec §4.3) or dead-lettered with its reason
(permanent failures, exhausted attempts, undecodable messages). A target that
succeeded is never part of a retry, so providers do not get the same event twice.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from fluxnotify.config.options import ConfigError, redact, referenced_secret_forms
from fluxnotify.config.store import ConfigStore
from fluxnotify.delivery.extensions import Context, Extensions, State, no_cross_namespace_refs_from_env
from fluxnotify.delivery.pipeline import prepare
from fluxnotify.delivery.routing import match_alerts
from fluxnotify.delivery.status import NullRecorder, Recorder
from fluxnotify.metrics import Metrics, NullMetrics
from fluxnotify.model.event import Event, EventError, event_from_data
from fluxnotify.model.manifests import Alert
from fluxnotify.providers.base import ProviderError, Skip
from fluxnotify.queue import MAX_DELAY_SECONDS, Queue
from fluxnotify.queue.messages import Envelope, UndecodableMessage, new_envelope, parse_envelope  # noqa: F401
from fluxnotify.transport.http import DeliveryError, Transport

logger = logging.getLogger(__name__)

DEFAULT_MAX_ATTEMPTS = 9  # back-off 30 s … 900 s: retries span about an hour
DEFAULT_RETRY_BASE = 30.0

DELIVERED, SKIPPED, RETRY, DEAD = "delivered", "skipped", "retry", "dead"


@dataclass
class TargetResult:
    target: str  # the Alert, namespace/name
    provider: str = ""  # the Provider, namespace/name
    provider_type: str = ""
    outcome: str = DELIVERED
    detail: str = ""  # skip rule or (redacted) error
    retry_after: float | None = None
    seconds: float = 0.0


class Dispatcher:
    def __init__(
        self,
        store: ConfigStore,
        queue: Queue,
        dead_letters: Queue,
        transport: Transport | None = None,
        *,
        max_attempts: int | None = None,
        retry_base: float | None = None,
        max_workers: int = 16,
        metrics: Metrics | None = None,
        status: Recorder | None = None,
        state: State | None = None,
        no_cross_namespace_refs: bool | None = None,
    ):
        self.store = store
        self.queue = queue
        self.dead_letters = dead_letters
        self.transport = transport or Transport()
        env = os.environ
        self.max_attempts = max_attempts or int(env.get("MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
        self.retry_base = retry_base if retry_base is not None else float(
            env.get("RETRY_BASE_SECONDS", DEFAULT_RETRY_BASE)
        )
        self.metrics = metrics or NullMetrics()
        self.status = status or NullRecorder()  # delivery/status.py; never raises
        self.extensions = Extensions(queue, state)  # digests, threads (delivery/extensions.py)
        self.no_cross_namespace_refs = (
            no_cross_namespace_refs if no_cross_namespace_refs is not None else no_cross_namespace_refs_from_env()
        )
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="deliver")

    # --- one message -------------------------------------------------------

    def handle(self, body: str) -> list[TargetResult]:
        """Process one queue message. Raises only when a follow-up could not be queued."""
        flush = self.extensions.flush_request(body)
        if flush is not None:  # a digest's window has ended
            return self.extensions.flush(flush, self)
        try:
            envelope = parse_envelope(body)
            event = event_from_data(envelope.event)
        except (UndecodableMessage, EventError) as err:
            self._dead_letter_raw(body, str(err))
            self.metrics.count("DeliveriesDeadLettered", {"ProviderType": "none"})
            return [TargetResult(target="", outcome=DEAD, detail=str(err))]
        alerts = self._targets(event, envelope.targets)
        if not alerts:
            logger.info("no alert matches the event", extra=_event_fields(event))
            return []
        if len(alerts) == 1:
            results = [self._deliver(event, alerts[0], envelope)]
        else:
            results = list(self._pool.map(lambda alert: self._deliver(event, alert, envelope), alerts))
        self._follow_up(envelope, results)
        self._report(event, envelope, results)
        return results

    def _targets(self, event: Event, names: list[str] | None) -> list[Alert]:
        if names is None:
            return match_alerts(event, self.store.alerts())
        by_key = {alert.metadata.key: alert for alert in self.store.alerts()}
        missing = [name for name in names if name not in by_key]
        for name in missing:
            logger.warning("alert of a retried delivery no longer exists", extra={"alert": name})
        return [by_key[name] for name in names if name in by_key]

    # --- one target --------------------------------------------------------

    def _deliver(self, event: Event, alert: Alert, envelope: Envelope) -> TargetResult:
        started = time.monotonic()
        ns, provider_name = alert.metadata.namespace, alert.spec.provider_ref.name
        result = TargetResult(target=alert.metadata.key, provider=f"{ns}/{provider_name}")
        secrets: list[str] = []
        provider = None
        try:
            provider = self.store.provider(ns, provider_name)
            if provider is None:
                raise ConfigError(f"failed to read provider: Provider '{ns}/{provider_name}' not found")
            result.provider_type = provider.spec.type
            context = Context.of(envelope, self.no_cross_namespace_refs, self.metrics)
            prepared = prepare(event, alert, provider, self.store.secret, context)
            secrets = prepared.config.sensitive_values()
            gathered = self.extensions.deliver(prepared.event, prepared.config, prepared.extensions, alert,
                                               provider, envelope, self.transport, context)
            if gathered is not None:
                result.outcome, result.detail = SKIPPED, gathered
        except Skip as skip:
            result.outcome, result.detail = SKIPPED, str(skip)
        except DeliveryError as err:
            result.outcome = RETRY if err.retryable else DEAD
            result.detail, result.retry_after = redact(str(err), secrets), err.retry_after
        except (ConfigError, ProviderError) as err:
            secrets = secrets or referenced_secret_forms(provider, self.store.secret)  # failed before options
            result.outcome, result.detail = DEAD, redact(str(err), secrets)
        except Exception as err:  # a bug must not lose the event: retry it, and say why
            secrets = secrets or referenced_secret_forms(provider, self.store.secret)
            logger.error("unexpected error while delivering",  # the traceback, redacted like every output
                         extra={"alert": result.target, "traceback": redact(traceback.format_exc(), secrets)})
            result.outcome, result.detail = RETRY, redact(f"internal error: {err!r}", secrets)
        result.seconds = time.monotonic() - started
        return result

    # --- what happens next -------------------------------------------------------

    def _follow_up(self, envelope: Envelope, results: list[TargetResult]) -> None:
        retry = [r for r in results if r.outcome == RETRY]
        if retry and envelope.attempt >= self.max_attempts:
            for result in retry:
                result.outcome = DEAD
                result.detail = f"giving up after {envelope.attempt} attempt(s): {result.detail}"
            retry = []
        if retry:
            delay = self.backoff(envelope.attempt, [r.retry_after for r in retry])
            follow_up = Envelope(
                envelope.event, envelope.attempt + 1, [r.target for r in retry], envelope.id, envelope.cluster
            )
            self.queue.send(follow_up.to_json(), delay)
        for result in results:
            if result.outcome == DEAD:
                self._dead_letter(envelope, result)

    def backoff(self, attempt: int, retry_after: list[float | None]) -> int:
        """Exponential back-off with jitter; a provider's Retry-After wins when given."""
        hinted = [seconds for seconds in retry_after if seconds is not None]
        if hinted:
            return min(MAX_DELAY_SECONDS, math.ceil(max(hinted)))
        delay = self.retry_base * 2 ** (attempt - 1)
        return min(MAX_DELAY_SECONDS, math.ceil(delay * random.uniform(0.8, 1.0)))

    def _dead_letter(self, envelope: Envelope, result: TargetResult) -> None:
        letter = {
            "event": envelope.event,
            "targets": [result.target],
            "attempt": envelope.attempt,
            "provider": result.provider,
            "type": result.provider_type,
            "error": result.detail,
            "reason": "retries exhausted" if result.detail.startswith("giving up") else "permanent failure",
            "failed_at": _now(),
            "id": envelope.id,
            "cluster": envelope.cluster,
        }
        self.dead_letters.send(json.dumps(letter, ensure_ascii=False))

    def _dead_letter_raw(self, body: str, error: str) -> None:
        letter = {"raw": body[:200_000], "error": error, "reason": "undecodable message", "failed_at": _now()}
        logger.error("undecodable message sent to the dead-letter queue", extra={"error": error})
        self.dead_letters.send(json.dumps(letter, ensure_ascii=False))

    def _report(self, event: Event, envelope: Envelope, results: list[TargetResult]) -> None:
        """One log line for the deliveries that succeeded, one per skip (with its rule) and
        per failure (with its redacted error); metrics for every target."""
        common = {**_event_fields(event), "attempt": envelope.attempt, "message_id": envelope.id}
        delivered = [r.provider for r in results if r.outcome == DELIVERED]
        if delivered:
            logger.info("delivered", extra={**common, "providers": delivered})
        for result in results:
            if result.outcome != DELIVERED:
                self._log_one(common, result)
            self._measure(result)
        self.status.record(event, envelope, results)

    @staticmethod
    def _log_one(common: dict, result: TargetResult) -> None:
        fields = {
            **common,
            "alert": result.target,
            "provider": result.provider,
            "provider_type": result.provider_type,
            "outcome": result.outcome,
            "duration_ms": round(result.seconds * 1000, 1),
        }
        if result.outcome == SKIPPED:
            logger.info("skipped by rule", extra={**fields, "rule": result.detail})
        else:
            logger.warning("delivery failed", extra={**fields, "error": result.detail})

    def _measure(self, result: TargetResult) -> None:
        dimensions = {"ProviderType": result.provider_type or "unknown"}
        names = {
            DELIVERED: ["DeliveriesSent"],
            SKIPPED: ["DeliveriesSkipped"],
            RETRY: ["DeliveriesFailed", "DeliveriesRetried"],
            DEAD: ["DeliveriesFailed", "DeliveriesDeadLettered"],
        }[result.outcome]
        for name in names:
            self.metrics.count(name, dimensions)
        if result.outcome != SKIPPED:
            self.metrics.milliseconds("DeliveryLatency", result.seconds * 1000, dimensions)


def _event_fields(event: Event) -> dict[str, str]:
    ref = event.involved_object
    return {"object": f"{ref.kind}/{ref.namespace}/{ref.name}", "reason": event.reason}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
