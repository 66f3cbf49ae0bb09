"""Slack threads (Provider annotation `fluxnotify.io/thread: object`).

The first notification about an involved object (per Provider and cluster) is posted as
usual and its ``ts`` kept; later ones about the same object are replies in that thread,
broadcast to the channel when they are errors. Only Providers on the App API
(chat.postMessage with a token) can thread: webhooks do not return a ``ts``, so they post
as usual. The parent's ``ts`` expires after ``fluxnotify.io/thread-ttl`` (default 7 days):
then the next notification starts a new thread.

State: DynamoDB items ``thread#<provider>#<cluster>#<Kind/ns/name>`` (TTL ``expires_at``) on
AWS, the table ``threads`` of serve's SQLite file locally.
"""

from __future__ import annotations

import logging
from typing import Any

from fluxnotify.config.options import ProviderConfig
from fluxnotify.delivery.annotations import thread_ttl_seconds, threads_by_object
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Provider
from fluxnotify.state.threads import ThreadStore
from fluxnotify.transport.http import Transport

logger = logging.getLogger(__name__)

DEFAULT_TTL = 7 * 24 * 3600


def applies(provider: Provider, cfg: ProviderConfig) -> bool:
    from fluxnotify.providers.chat import slack

    return provider.spec.type == "slack" and threads_by_object(provider) and slack.is_app_api(cfg.address)


def thread_key(provider: Provider, event: Event, cluster: str) -> str:
    ref = event.involved_object
    return f"{provider.metadata.key}#{cluster}#{ref.kind}/{ref.namespace}/{ref.name}"


def deliver(store: ThreadStore, provider: Provider, event: Event, cfg: ProviderConfig,
            transport: Transport, cluster: str) -> None:
    """Post as a reply when the object has a live thread, else as a parent and keep its ts."""
    from fluxnotify.providers.chat import slack

    key = thread_key(provider, event, cluster)
    parent = store.get(key)
    ts = slack.post_message(event, cfg, transport, thread_ts=parent or "")
    if parent is None and ts:
        try:
            store.put(key, ts, thread_ttl_seconds(provider, DEFAULT_TTL))
        except Exception:  # delivered already: a lost parent only means a new thread next time
            logger.warning("could not keep the Slack thread", extra={"provider": provider.metadata.key},
                           exc_info=True)


class ThreadStage:
    """Stage ``thread``: a Slack Provider with ``fluxnotify.io/thread: object`` on the App API
    posts through the thread store (a reply when the object has a live thread)."""

    name = "thread"

    def run(self, item: Any, ctx: Any) -> Any:
        from dataclasses import replace

        if item.provider is None or item.config is None or not applies(item.provider, item.config):
            return item
        return replace(item, reply=True)
