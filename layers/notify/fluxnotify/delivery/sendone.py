"""Sending one planned item: the dispatcher's send step, and `fluxnotify test`'s one-shot
delivery of a plan item with its classified result.

``send`` is what the dispatcher runs for every DELIVERED item (a Slack thread reply through
the thread store, else the provider's own delivery); ``deliver_planned`` runs the same step
for one item and says how it ended, in the words errors.classify gives every delivery.
"""

from __future__ import annotations

from dataclasses import dataclass

from fluxnotify import providers
from fluxnotify.config.options import ProviderConfig, redact
from fluxnotify.delivery.plan import Planned
from fluxnotify.delivery.stages import resolve, threads
from fluxnotify.errors import Outcome, classify
from fluxnotify.state.incidents import IncidentStore
from fluxnotify.state.threads import ThreadStore
from fluxnotify.transport.http import Transport


def send(planned: Planned, config: ProviderConfig, transport: Transport, thread_store: ThreadStore,
         cluster: str, incidents: IncidentStore | None = None) -> None:
    """Send a DELIVERED item with ``config`` (the dispatcher may have cut its timeout); with
    ``incidents``, an item of stage resolve is sent in its form and the state kept (not by `test`)."""
    assert planned.event is not None and planned.provider is not None
    if planned.reply:
        threads.deliver(thread_store, planned.provider, planned.event, config, transport, cluster)
    elif planned.incident is not None and incidents is not None:
        resolve.deliver(incidents, planned, config, transport)
    else:
        providers.deliver(planned.event, config, transport)


@dataclass(frozen=True)
class Sent:
    outcome: Outcome  # DELIVERED, SKIPPED, GATHERED, RETRY or DEAD
    detail: str = ""  # the rule or the error, secrets masked

    @property
    def retryable(self) -> bool:
        return self.outcome == Outcome.RETRY


def deliver_planned(planned: Planned, transport: Transport, thread_store: ThreadStore, cluster: str) -> Sent:
    """Carry out one plan item once (no retry, no dead letter) and classify how it ended."""
    secrets = planned.config.sensitive_values() if planned.config is not None else []
    try:
        if planned.error is not None:
            raise planned.error
        if planned.outcome != Outcome.DELIVERED:
            return Sent(planned.outcome, redact(planned.detail, secrets))
        assert planned.config is not None
        send(planned, planned.config, transport, thread_store, cluster)
    except Exception as err:  # errors.py: one classification for every failure
        outcome, detail, _ = classify(err)
        return Sent(outcome, redact(detail, secrets))
    return Sent(Outcome.DELIVERED)
