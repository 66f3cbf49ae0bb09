"""Run the real dispatcher on one event, with a file config store and in-memory queues.

    report = dispatch(MANIFESTS_YAML, {"involvedObject": {...}, ...})
    report.delivered      # ["ns/provider", ...]
    report.skipped        # {"ns/provider": "rule"}
    report.dead_letters   # [{"provider", "error", "reason", "event", ...}]
    report.retries        # [{"event", "attempt", "targets", ...}] follow-ups for retryable failures
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from fluxnotify.config.files import FileStore
from fluxnotify.delivery.dispatcher import DELIVERED, SKIPPED, Dispatcher, new_envelope
from fluxnotify.model.event import clean_metadata, parse_event, strip_internal
from fluxnotify.model.manifests import load_yaml
from fluxnotify.settings import Settings
from fluxnotify.state.stores import Stores


class MemoryQueue:
    def __init__(self):
        self.messages: list[tuple[str, int]] = []

    def send(self, body: str, delay: int = 0) -> str:
        self.messages.append((body, delay))
        return str(len(self.messages))

    def bodies(self) -> list[dict]:
        return [json.loads(body) for body, _ in self.messages]


@dataclass
class DispatchReport:
    results: list = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    dead_letters: list[dict] = field(default_factory=list)
    retries: list[dict] = field(default_factory=list)
    delays: list[int] = field(default_factory=list)


def make_dispatcher(store, queue, dead, *, stores: Stores | None = None, metrics=None, transport=None,
                    **options) -> Dispatcher:
    """A Dispatcher; ``options`` are Settings fields (max_attempts=3, retry_base=0, …)."""
    return Dispatcher(store, queue, dead, Settings(**options), stores=stores, metrics=metrics, transport=transport)


def door(event: dict | str):
    """The event as the receiver queues it (metadata cleaned, token removed)."""
    text = event if isinstance(event, str) else json.dumps(event)
    return strip_internal(clean_metadata(parse_event(text)))


def dispatch(manifests: str, event: dict | str, *, dispatcher_options: dict | None = None,
             body: str | None = None) -> DispatchReport:
    queue, dead = MemoryQueue(), MemoryQueue()
    dispatcher = make_dispatcher(FileStore(load_yaml(manifests)), queue, dead, **(dispatcher_options or {}))
    if body is None:
        body = new_envelope(door(event)).to_json()
    results = dispatcher.handle(body)
    return DispatchReport(
        results=results,
        delivered=[r.provider for r in results if r.outcome == DELIVERED],
        skipped={r.provider: r.detail for r in results if r.outcome == SKIPPED},
        dead_letters=dead.bodies(),
        retries=queue.bodies(),
        delays=[delay for _, delay in queue.messages],
    )
