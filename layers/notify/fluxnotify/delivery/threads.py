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
import time
from typing import Any, Protocol

from fluxnotify.config.options import ProviderConfig
from fluxnotify.delivery.annotations import thread_ttl_seconds, threads_by_object
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Provider
from fluxnotify.transport.http import Transport

logger = logging.getLogger(__name__)

DEFAULT_TTL = 7 * 24 * 3600


class ThreadStore(Protocol):
    def get(self, key: str, now: float | None = None) -> str | None: ...

    def put(self, key: str, ts: str, ttl: float, now: float | None = None) -> None: ...


class SqliteThreads:
    def __init__(self, database: Any):
        self.db = database
        self.db.execute("CREATE TABLE IF NOT EXISTS threads (key TEXT PRIMARY KEY, ts TEXT, expires_at REAL)")

    def get(self, key: str, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        rows = self.db.execute("SELECT ts FROM threads WHERE key = ? AND expires_at > ?", (key, now))
        return rows[0][0] if rows else None

    def put(self, key: str, ts: str, ttl: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.db.execute("INSERT OR REPLACE INTO threads VALUES (?, ?, ?)", (key, ts, now + ttl))
        self.db.execute("DELETE FROM threads WHERE expires_at <= ?", (now,))


class DynamoThreads:
    def __init__(self, table: str, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client
        self.table = table

    def get(self, key: str, now: float | None = None) -> str | None:
        now = time.time() if now is None else now
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": f"thread#{key}"}},
                                    ConsistentRead=True).get("Item")
        # DynamoDB deletes expired items lazily: check the TTL ourselves.
        if item is None or float(item["expires_at"]["N"]) <= now:
            return None
        return item["ts"]["S"]

    def put(self, key: str, ts: str, ttl: float, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.client.put_item(TableName=self.table, Item={
            "pk": {"S": f"thread#{key}"}, "ts": {"S": ts}, "expires_at": {"N": str(int(now + ttl))},
        })


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
