"""The `fluxnotify.io/*` extensions in the delivery path (docs/extensions.md).

Three hooks, so every provider gets them without provider code:

* ``before_merge`` (pipeline, after the drop rules): --no-cross-namespace-refs, the reason
  filters and the cluster selection — a Skip with the rule;
* ``after_merge`` (pipeline, before encoding): the message template;
* ``Extensions.deliver`` (dispatcher, instead of the provider's deliver): digests gather,
  Slack threads reply; ``Extensions.flush`` handles the digest's flush message.

State (digest windows, thread parents) is in the dispatcher's stores (state/stores.py):
DynamoDB (the state table) on AWS, the SQLite file of serve locally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fluxnotify import providers
from fluxnotify.config.options import COMMIT_STATUS_TYPES, ConfigError, ProviderConfig
from fluxnotify.delivery.annotations import (
    DEFAULT_CLUSTER,
    AlertExtensions,
    AnnotationError,
    alert_extensions,
    cluster_name,
    skip_rule,
)
from fluxnotify.delivery.stages import digests, threads
from fluxnotify.metrics import Metrics
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Alert, Provider
from fluxnotify.providers.base import Skip
from fluxnotify.providers.git.gitstatus import MAX_TEMPLATED_DESCRIPTION, TEMPLATED_DESCRIPTION
from fluxnotify.queue.messages import Envelope
from fluxnotify.state.stores import Stores
from fluxnotify.transport.http import Transport


@dataclass(frozen=True)
class Context:
    """What a delivery knows beyond event, Alert and Provider."""

    cluster: str = DEFAULT_CLUSTER  # envelope.cluster
    no_cross_namespace_refs: bool = False
    metrics: Metrics | None = None
    digest: bool = False  # the digest itself: filters and template were applied per event

    @classmethod
    def of(cls, envelope: Envelope, no_cross_namespace_refs: bool, metrics: Metrics | None) -> Context:
        # A digest (also one replayed from the dead-letter queue) is sent as it is.
        digest = envelope.id.startswith(digests.DIGEST_ID_PREFIX)
        return cls(envelope.cluster, no_cross_namespace_refs, metrics, digest)


def before_merge(raw: Event, alert: Alert | None, context: Context) -> AlertExtensions:
    """Raise Skip for an event the Alert's rules keep out; the Alert's extensions."""
    if alert is None:
        return AlertExtensions()
    ref = raw.involved_object
    if context.no_cross_namespace_refs and ref.namespace != alert.metadata.namespace:
        raise Skip(
            "discarding event, access denied to cross-namespace sources: alert "
            f"'{alert.metadata.key}' can't process event from '{ref.kind}/{ref.namespace}/{ref.name}', "
            "cross-namespace references have been blocked"
        )
    try:
        ext = alert_extensions(alert)
    except AnnotationError as err:
        raise ConfigError(f"Alert {alert.metadata.key}: {err}") from None
    if not context.digest:
        rule = skip_rule(ext, raw, context.cluster)
        if rule is not None:
            raise Skip(rule)
    return ext


def after_merge(event: Event, alert: Alert | None, provider: Provider, ext: AlertExtensions,
                context: Context) -> Event:
    commit_status = provider.spec.type in COMMIT_STATUS_TYPES
    if commit_status and TEMPLATED_DESCRIPTION in event.metadata:  # only the template may set it
        event = event.with_metadata({k: v for k, v in event.metadata.items() if k != TEMPLATED_DESCRIPTION})
    if alert is None or ext.template is None or context.digest:
        return event
    from fluxnotify.delivery.stages import templates

    templated = templates.apply(ext.template, event, alert, provider, cluster_name(context.cluster),
                                context.metrics)
    if commit_status and templated is not event:  # it becomes the status description
        description = templated.message.strip()[:MAX_TEMPLATED_DESCRIPTION]
        templated = templated.with_metadata({**templated.metadata, TEMPLATED_DESCRIPTION: description})
    return templated


def preview(prepared: Any, raw: Event, alert: Alert | None, provider: Provider, get_secret) -> Any:
    """render: a digest Alert shows the digest this one event would make (min-events aside)."""
    if alert is None or prepared.extensions.digest_seconds is None:
        return prepared
    from fluxnotify.delivery.pipeline import prepare
    from fluxnotify.state.digests import Window

    entry = {"t": prepared.event.timestamp_text() or "", "line": digests.event_line(prepared.event)}
    window = Window(digests.digest_key(alert, provider), "render", alert.metadata.key, DEFAULT_CLUSTER, 0.0,
                    1, prepared.event.severity, [entry], raw.to_dict())
    event = digests.digest_event(window, digests.budget_of(prepared.module))
    return prepare(event, alert, provider, get_secret, Context(digest=True))


class Extensions:
    def __init__(self, queue: Any, state: Stores):
        self._queue = queue
        self.state = state

    def deliver(self, event: Event, cfg: ProviderConfig, ext: AlertExtensions, alert: Alert,
                provider: Provider, envelope: Envelope, transport: Transport, context: Context) -> str | None:
        """Deliver (or gather into a digest: then the skip detail to log)."""
        if ext.digest_seconds is not None and not context.digest:
            return digests.gather(self.state.digests, self._queue, event, alert, provider, envelope, ext)
        if threads.applies(provider, cfg):
            threads.deliver(self.state.threads, provider, event, cfg, transport, context.cluster)
        else:
            providers.deliver(event, cfg, transport)
        return None

    @staticmethod
    def flush_request(body: str) -> dict | None:
        return digests.flush_request(body)

    def flush(self, data: dict, dispatcher: Any) -> list:
        store = self.state.digests

        def deliver_digest(window, alert: Alert, attempt: int) -> list:
            provider = dispatcher.store.provider(alert.metadata.namespace, alert.spec.provider_ref.name)
            module = providers.get(provider.spec.type) if provider is not None else None
            budget = digests.budget_of(module) if module is not None else digests.DEFAULT_BUDGET
            event = digests.digest_event(window, budget)
            envelope = Envelope(event.to_dict(), attempt, [alert.metadata.key],
                                digests.DIGEST_ID_PREFIX + window.window, window.cluster)
            result = dispatcher._deliver(event, alert, envelope)
            if result.outcome == "retry" and attempt < dispatcher.max_attempts:
                delay = dispatcher.backoff(attempt, [result.retry_after])
                store.release(window.key, window.window)
                dispatcher.queue.send(digests.flush_body(window, attempt + 1), delay)
            else:
                if result.outcome == "retry":
                    result.outcome = "dead"
                    result.detail = f"giving up after {attempt} attempt(s): {result.detail}"
                if result.outcome == "dead":
                    dispatcher._dead_letter(envelope, result)
                store.mark_sent(window.key, window.window)
            dispatcher._report(event, envelope, [result])
            return [result]

        return digests.flush(store, data, dispatcher, deliver_digest)
