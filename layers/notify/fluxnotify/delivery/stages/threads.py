"""Slack threads (Provider annotation `fluxnotify.io/thread: object`).

The first notification about an involved object (per Provider and cluster) is posted as
usual and its ``ts`` kept; later ones about the same object are replies in that thread,
broadcast to the channel when they are errors. Only Providers on the App API
(chat.postMessage with a token) can thread: webhooks do not return a ``ts``, so they post
as usual. The parent's ``ts`` expires after ``fluxnotify.io/thread-ttl`` (default 7 days):
then the next notification starts a new thread. Of a burst about one object (Flux sends
several events within a second) exactly one claims and posts the parent; the others wait
briefly for its ``ts`` and reply (state/threads.py).

State: DynamoDB items ``thread#<provider>#<cluster>#<Kind/ns/name>`` (TTL ``expires_at``) on
AWS, the table ``threads`` of serve's SQLite file locally.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fluxnotify.config.options import ProviderConfig
from fluxnotify.delivery.annotations import thread_ttl_seconds, threads_by_object
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Provider
from fluxnotify.state.threads import ThreadStore
from fluxnotify.transport.http import Transport

logger = logging.getLogger(__name__)

DEFAULT_TTL = 7 * 24 * 3600
PARENT_WAIT = 5.0  # seconds a reply waits for the parent another delivery is posting
POLL_SECONDS = 0.05


def applies(provider: Provider, cfg: ProviderConfig) -> bool:
    if provider.spec.type != "slack" or not threads_by_object(provider):
        return False
    from fluxnotify.providers.chat import slack

    return slack.is_app_api(cfg.address)


def thread_key(provider: Provider, event: Event, cluster: str) -> str:
    ref = event.involved_object
    return f"{provider.metadata.key}#{cluster}#{ref.kind}/{ref.namespace}/{ref.name}"


def deliver(store: ThreadStore, provider: Provider, event: Event, cfg: ProviderConfig,
            transport: Transport, cluster: str, wait: float = PARENT_WAIT) -> None:
    """Post as a reply when the object has a live thread; else claim the parent (one of a
    burst wins), post it and keep its ts; the others wait up to ``wait`` seconds for that ts."""
    from fluxnotify.providers.chat import slack

    key = thread_key(provider, event, cluster)
    parent = store.get(key)
    if parent is None and store.claim(key):
        _post_parent(store, key, provider, event, cfg, transport)
        return
    if not parent:  # another delivery is posting the parent
        parent = _wait_for_parent(store, key, min(wait, cfg.timeout))
    slack.post_message(event, cfg, transport, thread_ts=parent or "")


def _post_parent(store: ThreadStore, key: str, provider: Provider, event: Event, cfg: ProviderConfig,
                 transport: Transport) -> None:
    from fluxnotify.providers.chat import slack

    try:
        ts = slack.post_message(event, cfg, transport, thread_ts="")
    except BaseException:
        _forget(store, key, provider)  # the next event claims again
        raise
    try:
        if ts:
            store.put(key, ts, thread_ttl_seconds(provider, DEFAULT_TTL))
        else:
            store.release(key)
    except Exception:  # delivered already: a lost parent only means a new thread next time
        logger.warning("could not keep the Slack thread", extra={"provider": provider.metadata.key},
                       exc_info=True)


def _wait_for_parent(store: ThreadStore, key: str, seconds: float) -> str | None:
    """The parent's ts once it is kept; None when it is not within ``seconds`` (then the
    event is posted on its own rather than held back)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        parent = store.get(key)
        if parent is None or parent:  # released (posted on its own) or there
            return parent or None
    return None


def _forget(store: ThreadStore, key: str, provider: Provider) -> None:
    try:
        store.release(key)
    except Exception:  # the claim expires on its own (state/threads.py CLAIM_SECONDS)
        logger.warning("could not release the Slack thread claim", extra={"provider": provider.metadata.key},
                       exc_info=True)


class ThreadStage:
    """Stage ``thread``: a Slack Provider with ``fluxnotify.io/thread: object`` on the App API
    posts through the thread store (a reply when the object has a live thread)."""

    name = "thread"

    def run(self, item: Any, ctx: Any) -> Any:
        if item.provider is None or item.config is None or not applies(item.provider, item.config):
            return item
        return item.but(reply=True)
