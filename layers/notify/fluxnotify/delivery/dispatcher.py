"""The executor of the delivery core (docs/delivery.md): ``Dispatcher`` carries out the plans
of delivery/planner.py. One queue message = one event → every matching Alert's Provider.

Message bodies (JSON):

* from the receiver: ``{"event": <event>, "attempt": 1, "targets": null, "id": ...}``;
* a retry: the same with ``attempt`` > 1 and ``targets`` naming only the Alerts
  (``namespace/name``) whose delivery failed with a retryable error;
* a dead letter (DLQ): ``{"event", "targets", "attempt", "provider", "type", "error",
  "reason", "failed_at"}`` — moved back by ``fluxnotify replay``, it starts a new retry
  chain at attempt 1 for its targets only;
* a bare Flux event is accepted too (e.g. a hand-written SQS test message).

Each target ends delivered, skipped by a rule (logged with the rule), re-queued with
back-off (retryable failures, spec §4.3) or dead-lettered with its reason (permanent
failures, exhausted attempts, undecodable messages). The ledger (ledger.py) keeps a
redelivered message from sending a target twice or forking a second retry chain.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from fluxnotify.config.options import redact, referenced_secret_forms
from fluxnotify.config.store import ConfigStore
from fluxnotify.delivery.batch import Abandoned, Deadline
from fluxnotify.delivery.configcache import ResolvedConfigs
from fluxnotify.delivery.extensions import Extensions
from fluxnotify.delivery.outcomes import (
    Tally,
    TargetResult,
    backoff,
    dead_letter,
    event_fields,
    now_text,
    raw_letter,
    report,
)
from fluxnotify.delivery.plan import Context, Planned
from fluxnotify.delivery.planner import Planner
from fluxnotify.delivery.routing import match_alerts
from fluxnotify.delivery.sendone import send
from fluxnotify.delivery.stages.digests import DIGEST_ID_PREFIX
from fluxnotify.errors import DeliveryFailed, Outcome, Permanent, classify
from fluxnotify.metrics import Metrics, NullMetrics
from fluxnotify.model.event import Event, EventError, event_from_data, validate_event
from fluxnotify.model.manifests import Alert
from fluxnotify.queue import Queue
from fluxnotify.queue.messages import Envelope, UndecodableMessage, new_envelope, parse_envelope  # noqa: F401
from fluxnotify.settings import Settings
from fluxnotify.state.stores import Stores
from fluxnotify.transport.http import Transport

logger = logging.getLogger(__name__)

DELIVERED, SKIPPED, GATHERED, RETRY, DEAD = (Outcome.DELIVERED, Outcome.SKIPPED, Outcome.GATHERED, Outcome.RETRY,
                                              Outcome.DEAD)
UNFINISHED = Outcome.UNFINISHED  # out of time: the message is left to the queue
INLINE_BUDGET = 0.05  # seconds: targets expected to finish within it together go one after another


class _OutOfTime(Exception):
    pass


class Dispatcher:
    def __init__(
        self,
        store: ConfigStore,
        queue: Queue,
        dead_letters: Queue,
        settings: Settings | None = None,
        *,
        stores: Stores | None = None,
        transport: Transport | None = None,
        metrics: Metrics | None = None,
        tally: Tally | None = None,
    ):
        """``settings``: max_attempts, retry_base, no_cross_namespace_refs; ``stores``: the
        ledger, status, digest and thread stores (state/stores.py; in memory when None)."""
        self.store = store
        self.queue = queue
        self.dead_letters = dead_letters
        self.settings = settings or Settings()
        self.transport = transport or Transport()
        self.max_attempts = self.settings.max_attempts
        self.retry_base = self.settings.retry_base
        self.no_cross_namespace_refs = self.settings.no_cross_namespace_refs
        self.metrics = metrics or NullMetrics()
        self.tally = tally or Tally()  # the per-message log level, the summary's counts (outcomes.py)
        self.stores = stores or Stores.memory()
        self.status = self.stores.status  # never raises
        self.ledger = self.stores.ledger
        self._status_lock = threading.Lock()
        self.extensions = Extensions(queue, self.stores)  # digests, threads (delivery/extensions.py)
        self._configs = ResolvedConfigs(store)
        self.planner = Planner(store.provider, store.secret, self._configs)
        self._latency: dict[str, float] = {}  # provider → recent delivery seconds (moving average)
        self._pool = ThreadPoolExecutor(max_workers=self.settings.max_workers, thread_name_prefix="deliver")

    # --- one message -------------------------------------------------------

    def handle(self, body: str, message_id: str = "", deadline: Deadline | None = None) -> list[TargetResult]:
        """Process one queue message (``message_id``: the queue's id, stable across redeliveries).

        Raises when a follow-up or the ledger could not be written, and Abandoned when the
        deadline came first; then nothing was queued for it (SQS redelivers it), and the
        deliveries it made are reported (log, metrics, status) all the same.
        """
        deadline = deadline or Deadline()
        flush = self.extensions.flush_request(body)
        if flush is not None:  # a digest's window has ended
            return self.extensions.flush(flush, self.store.alerts(), self.store.provider, self.metrics,
                                         self._send_digest)
        try:
            envelope = parse_envelope(body, default_id=message_id or None)
            event = event_from_data(envelope.event)
            validate_event(event)  # what the receiver checks: a message may come from elsewhere
            event.timestamp_text()
        except (UndecodableMessage, EventError, RecursionError, OverflowError) as err:
            self.dead_letters.send(raw_letter(body, str(err) or type(err).__name__))
            self.metrics.count("DeliveriesDeadLettered", {"ProviderType": "none"})
            return [TargetResult(target="", outcome=DEAD, detail=str(err))]
        fresh = deadline.first_receipt and envelope.from_receiver  # nothing in the ledger yet
        done = set() if fresh else self.ledger.begin(envelope.id, envelope.step, message_id, claim=envelope.attempt > 1)
        if done is None:
            logger.warning("message already handled, or a duplicate follow-up: dropped",
                           extra={"message_id": envelope.id, "attempt": envelope.attempt})
            return []
        alerts = [alert for alert in self._targets(event, envelope.targets) if alert.metadata.key not in done]
        if not alerts and not done:
            logger.log(self.tally.each_at, "no alert matches the event", extra=event_fields(event))
        results = self._fan_out(event, envelope, alerts, deadline) if alerts else []
        deadline.begin_record()
        self._remember(envelope.id, results)
        try:
            if any(r.outcome == UNFINISHED for r in results) or not deadline.begin_commit():
                raise Abandoned(f"message {envelope.id}: deadline reached")
            self._follow_up(envelope, results)
            if any(r.outcome in (RETRY, DEAD) for r in results):  # else a redelivery has nothing left to do
                self.ledger.complete(envelope.id, envelope.step)
        except BaseException:
            # The record goes back to SQS, but its deliveries happened (the ledger keeps the
            # redelivery from sending them again, so it will not report them): report them now.
            # The rest is decided, and reported, by the redelivery.
            if delivered := [r for r in results if r.outcome == DELIVERED]:
                self._report(event, envelope, delivered)
            raise
        if results:
            self._report(event, envelope, results)
        return results

    def _fan_out(self, event: Event, envelope: Envelope, alerts: list[Alert], deadline: Deadline) -> list[TargetResult]:
        """Every target at once, the last one in this thread; one after another in this thread
        when their recent latencies add up to less than a pool hand-off is worth (fast sinks)."""
        context = self._context(envelope)  # one per message, shared by its targets

        def one(alert: Alert) -> TargetResult:
            result = self._deliver(event, alert, envelope, deadline, context)
            previous = self._latency.get(result.provider, result.seconds)
            self._latency[result.provider] = 0.8 * previous + 0.2 * result.seconds
            return result

        expected = sum(self._latency.get(f"{a.metadata.namespace}/{a.spec.provider_ref.name}", 1.0) for a in alerts)
        if expected < INLINE_BUDGET:
            return [one(alert) for alert in alerts]
        others = [self._pool.submit(one, alert) for alert in alerts[:-1]]
        last = one(alerts[-1])
        return [future.result() for future in others] + [last]

    def _targets(self, event: Event, names: list[str] | None) -> list[Alert]:
        if names is None:
            return match_alerts(event, self.store.alerts())
        by_key = {alert.metadata.key: alert for alert in self.store.alerts()}
        for name in [name for name in names if name not in by_key]:
            logger.warning("alert of a retried delivery no longer exists", extra={"alert": name})
        return [by_key[name] for name in names if name in by_key]

    # --- one target --------------------------------------------------------

    def _context(self, envelope: Envelope) -> Context:
        return Context(envelope.cluster, self.no_cross_namespace_refs, self.metrics,
                       envelope.id.startswith(DIGEST_ID_PREFIX),  # a digest (also replayed) goes as it is
                       silences=self.stores.silences, onchange=self.stores.onchange, incidents=self.stores.incidents,
                       message_id=envelope.id, retry=envelope.attempt > 1 or envelope.targets is not None)  # decided before

    def _deliver(self, event: Event, alert: Alert, envelope: Envelope, deadline: Deadline | None = None,
                 context: Context | None = None) -> TargetResult:
        """Plan one Alert's delivery (delivery/planner.py) and carry the plan out."""
        started, deadline, context = time.monotonic(), deadline or Deadline(), context or self._context(envelope)
        planned = self.planner.plan_alert(event, alert, context)
        result = TargetResult(target=alert.metadata.key, provider=planned.provider_key,
                              provider_type=planned.provider_type)
        try:
            if planned.error is not None:
                raise planned.error
            if planned.outcome == GATHERED:
                result.outcome = SKIPPED  # a gathered event is not sent on its own (status, metrics)
                result.detail = self.extensions.gather(planned, envelope)
            elif planned.outcome == SKIPPED:
                result.outcome, result.detail = SKIPPED, planned.detail
            else:
                self._send(planned, context, deadline)
                result.detail = planned.incident.note if planned.incident is not None else ""  # status page
        except _OutOfTime:
            result.outcome = UNFINISHED
        except Exception as err:  # errors.py: one classification for every failure
            result.outcome, detail, result.retry_after = classify(err)
            if result.outcome == SKIPPED:
                result.detail = detail
            else:
                provider = planned.provider
                secrets = (planned.config.sensitive_values() if planned.config is not None else []
                           ) or referenced_secret_forms(provider, self.store.secret)
                result.detail = redact(detail, secrets)
                if not isinstance(err, (Permanent, DeliveryFailed)):  # a bug: the traceback, redacted
                    logger.error("unexpected error while delivering",
                                 extra={"alert": result.target, "traceback": redact(traceback.format_exc(), secrets)})
        if result.outcome != DELIVERED and deadline.delivery_seconds() <= 0:
            result.outcome = UNFINISHED  # cut short by the deadline, not by the provider
        result.seconds = time.monotonic() - started
        return result

    def _send(self, planned: Planned, context: Context, deadline: Deadline) -> None:
        config = planned.config
        assert config is not None and planned.event is not None and planned.provider is not None
        if (left := deadline.delivery_seconds()) < config.timeout:
            if left <= 0:
                raise _OutOfTime
            config = replace(config, timeout=left)  # a delivery never outlives the invocation
        send(planned, config, self.transport, self.stores.threads, context.cluster, self.stores.incidents)

    def _send_digest(self, event: Event, alert: Alert, envelope: Envelope, retry_body: str) -> list[TargetResult]:
        """A digest goes the way of every delivery: planned, sent, followed up, reported."""
        result = self._deliver(event, alert, envelope)
        self._remember(envelope.id, [result])
        self._follow_up(envelope, [result], retry_body)
        self._report(event, envelope, [result])
        return [result]

    def _remember(self, message_id: str, results: list[TargetResult]) -> None:  # one write, after the fan-out
        targets = [r.target for r in results if r.outcome == DELIVERED]
        try:
            self.ledger.delivered(message_id, targets)
        except Exception as err:  # the deliveries happened; only a redelivery could repeat them
            logger.warning("delivery ledger write failed", extra={"alert": ", ".join(targets), "error": repr(err)[:300]})
            self.metrics.count("LedgerWriteFailed")

    # --- what happens next -------------------------------------------------------

    def _follow_up(self, envelope: Envelope, results: list[TargetResult], retry_body: str | None = None) -> None:
        """Retry (one follow-up message, or ``retry_body`` for a digest) and dead letters."""
        retry = [r for r in results if r.outcome == RETRY]
        if retry and envelope.attempt >= self.max_attempts:
            for result in retry:
                result.outcome = DEAD
                result.detail = f"giving up after {envelope.attempt} attempt(s): {result.detail}"
            retry = []
        if retry:
            delay = self.backoff(envelope.attempt, [r.retry_after for r in retry])
            follow_up = Envelope(envelope.event, envelope.attempt + 1, [r.target for r in retry], envelope.id,
                                 envelope.cluster, envelope.chain)
            self.queue.send(retry_body or follow_up.to_json(), delay)
        for result in results:
            if result.outcome == DEAD:
                self._dead_letter(envelope, result)

    def backoff(self, attempt: int, retry_after: list[float | None]) -> int:
        return backoff(self.retry_base, attempt, retry_after)

    def _dead_letter(self, envelope: Envelope, result: TargetResult) -> None:
        self.dead_letters.send(dead_letter(envelope, result))

    def exhausted_letter(self, body: str, message_id: str, error: str) -> str | None:
        """The dead letter of a message received too often without being handled (the local
        stack's maxReceiveCount), naming only the targets the ledger has not seen delivered;
        None when every target was delivered."""
        try:
            envelope = parse_envelope(body, default_id=message_id or None)
            names = envelope.targets
            if names is None:
                names = [a.metadata.key for a in match_alerts(event_from_data(envelope.event), self.store.alerts())]
            done = self.ledger.begin(envelope.id, envelope.step, message_id) or set()
        except (UndecodableMessage, EventError, RecursionError):
            return json.dumps({"raw": body, "error": error, "reason": "max receives exceeded"}, ensure_ascii=False)
        letter = {"event": envelope.event, "targets": [n for n in names if n not in done], "attempt": envelope.attempt,
                  "error": error, "reason": "max receives exceeded", "failed_at": now_text(), "id": envelope.id,
                  "cluster": envelope.cluster}
        return json.dumps(letter, ensure_ascii=False) if letter["targets"] else None

    def _report(self, event: Event, envelope: Envelope, results: list[TargetResult]) -> None:
        report(event, envelope, results, self.metrics, self.tally)
        with self._status_lock:  # records run concurrently; their status items overlap (same Provider)
            self.status.record(event, envelope, results)
