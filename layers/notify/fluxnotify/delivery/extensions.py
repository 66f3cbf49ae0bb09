"""The executor's side of the stages that keep state: a gathered event joins its digest window,
and a digest's flush message becomes one delivery of the digest (delivery/stages/digests.py).

State (digest windows, thread parents) is in the dispatcher's stores (state/stores.py):
DynamoDB (the state table) on AWS, the SQLite file of serve locally.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fluxnotify import providers
from fluxnotify.delivery.plan import Planned
from fluxnotify.delivery.stages import digests
from fluxnotify.errors import Outcome
from fluxnotify.metrics import Metrics
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Alert
from fluxnotify.queue import Queue
from fluxnotify.queue.messages import Envelope
from fluxnotify.state.digests import Window
from fluxnotify.state.stores import Stores

# (digest event, its envelope, a retry's flush message) → the delivery's results
DigestSender = Callable[[Event, Alert, Envelope, str], list[Any]]


class Extensions:
    def __init__(self, queue: Queue, state: Stores):
        self._queue = queue
        self.state = state

    def gather(self, planned: Planned, envelope: Envelope) -> str:
        """Add a GATHERED plan item to its digest window; the detail to log."""
        event, alert, provider = planned.event, planned.alert, planned.provider
        assert event is not None and alert is not None and provider is not None  # the digest stage's items have all
        return digests.gather(self.state.digests, self._queue, event, alert, provider, envelope, planned.ext)

    @staticmethod
    def flush_request(body: str) -> dict | None:
        return digests.flush_request(body)

    def flush(self, data: dict, alerts: list[Alert], get_provider: Callable, metrics: Metrics,
              send: DigestSender) -> list[Any]:
        """Handle a flush message: the window's digest is planned and sent like any event
        (``send``: the executor, with its retry policy); the window is marked sent unless
        the delivery is retried."""
        store = self.state.digests

        def deliver_digest(window: Window, alert: Alert, attempt: int) -> list[Any]:
            provider = get_provider(alert.metadata.namespace, alert.spec.provider_ref.name)
            module = providers.get(provider.spec.type) if provider is not None else None
            budget = digests.budget_of(module) if module is not None else digests.DEFAULT_BUDGET
            event = digests.digest_event(window, budget)
            envelope = Envelope(event.to_dict(), attempt, [alert.metadata.key],
                                digests.DIGEST_ID_PREFIX + window.window, window.cluster)
            results = send(event, alert, envelope, digests.flush_body(window, attempt + 1))
            if any(r.outcome == Outcome.RETRY for r in results):
                store.release(window.key, window.window)
            else:
                store.mark_sent(window.key, window.window)
            return results

        return digests.flush(store, data, self._queue, alerts, metrics, deliver_digest)
