"""Alert annotation `fluxnotify.io/digest: <duration>` (and `fluxnotify.io/min-events: N`).

An event routed to a digest Alert is not sent: after the drop rules, filters, metadata
merge and template it becomes one line in the window of (Alert, Provider) — the window opens
with its first event and is held by the store (state/digests.py). The message that opened the
window also queues a *flush message* delayed to the window's end (longer windows take
several 15-minute hops). The flush closes the window and sends one notification: the worst
severity seen, one line per event (`Kind/namespace/name: reason: first line of its
message`, oldest first) cut to the provider's budget with the count of lines left out, and
metadata `events: N`; with min-events, a window of fewer events is dropped and the skip
logged with the rule. A failed send is retried (and dead-lettered) like any delivery;
the window stays closed-but-unsent until then, so a crash anywhere re-sends it once.

Flush message body: ``{"digest": {"key", "window", "alert", "due"}, "attempt": N}``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fluxnotify.delivery.annotations import MIN_EVENTS, AlertExtensions, alert_extensions
from fluxnotify.model.event import EVENT_GROUP_PREFIX, Event, event_from_data
from fluxnotify.model.manifests import Alert, Provider
from fluxnotify.queue import MAX_DELAY_SECONDS
from fluxnotify.queue.messages import Envelope
from fluxnotify.state.digests import DigestStore, Entry, FlushBusy, Window

logger = logging.getLogger(__name__)

DIGEST_ID_PREFIX = "digest-"  # message id of a digest notification (and of its dead letter)
DEFAULT_BUDGET = 3000  # characters of digest text, unless the provider module has MAX_TEXT
MAX_LINE = 300


def event_line(event: Event) -> str:
    ref = event.involved_object
    first = event.message.split("\n", 1)[0]
    line = f"{ref.kind}/{ref.namespace}/{ref.name}: {event.reason}: {first}"
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def digest_key(alert: Alert, provider: Provider) -> str:
    return f"{alert.metadata.key}|{provider.metadata.key}"


def gather(store: DigestStore, queue: Any, event: Event, alert: Alert, provider: Provider,
           envelope: Envelope, ext: AlertExtensions) -> str:
    """Put the (prepared) event into its window; the skip detail the dispatcher logs."""
    entry = Entry(
        key=digest_key(alert, provider), alert=alert.metadata.key, cluster=envelope.cluster,
        seconds=float(ext.digest_seconds or 0), message_id=envelope.id, severity=event.severity,
        timestamp=event.timestamp_text() or _now_text(), line=event_line(event), base=envelope.event,
    )
    window = store.add(entry)
    if window.opener == envelope.id:  # also when this message is redelivered: flushes are idempotent
        queue.send(flush_body(window), _delay(window.due))
    return f"gathered into the digest of {alert.metadata.key} ({ext.digest_text} window, {window.count} so far)"


def flush_body(window: Window, attempt: int = 1) -> str:
    digest = {"key": window.key, "window": window.window, "alert": window.alert, "due": window.due}
    return json.dumps({"digest": digest, "attempt": attempt})


def flush_request(body: str) -> dict | None:
    """The decoded flush message, or None for any other message."""
    if '"digest"' not in body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if isinstance(data, dict) and isinstance(data.get("digest"), dict) and "event" not in data:
        return data
    return None


def _delay(due: float) -> int:
    return max(0, min(MAX_DELAY_SECONDS, math.ceil(due - time.time())))


def flush(store: DigestStore, data: dict, queue: Any, alerts: list[Alert], metrics: Any, deliver_digest) -> list:
    """Handle a flush message: send the window's digest once (see the module docstring)."""
    digest, attempt = data["digest"], int(data.get("attempt") or 1)
    if float(digest["due"]) - time.time() > 1:  # a long window: one more hop
        queue.send(json.dumps(data), _delay(float(digest["due"])))
        return []
    try:
        window = store.close(digest["key"], digest["window"])
    except FlushBusy as busy:  # another flush of this window is sending it: check again later
        queue.send(json.dumps(data), math.ceil(busy.retry_in))
        return []
    if window is None:
        logger.info("digest already sent", extra={"alert": digest["alert"], "window": digest["window"]})
        return []
    alert = next((a for a in alerts if a.metadata.key == window.alert), None)
    if alert is None:
        logger.warning("digest dropped: its Alert no longer exists",
                       extra={"alert": window.alert, "events": window.count})
        store.mark_sent(window.key, window.window)
        return []
    ext = alert_extensions(alert)
    if ext.min_events and window.count < ext.min_events:
        rule = f"{MIN_EVENTS}: {window.count} event(s) in the {ext.digest_text} window, fewer than {ext.min_events}"
        logger.info("skipped by rule", extra={"alert": window.alert, "rule": rule, "events": window.count})
        metrics.count("DigestsDropped", {"Alert": window.alert})
        store.mark_sent(window.key, window.window)
        return []
    return deliver_digest(window, alert, attempt)


def digest_event(window: Window, budget: int) -> Event:
    """The one notification of a window."""
    entries = sorted(window.entries, key=lambda e: e["t"])  # stable: arrival order within a second
    base = event_from_data(window.base)
    return replace(
        base,
        severity=window.severity,
        message=cut_lines([e["line"] for e in entries], window.count, budget),
        metadata={EVENT_GROUP_PREFIX + "events": str(window.count)},
        timestamp=datetime.now(UTC).replace(microsecond=0),
    )


def cut_lines(lines: list[str], count: int, budget: int) -> str:
    """The lines that fit the budget, then '… N more event(s) left out' when some do not."""
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        left = count - index - 1
        marker = len(_marker(left)) + 1 if left else 0
        if used + len(line) + marker > budget:
            break
        kept.append(line)
        used += len(line) + 1
    left = count - len(kept)
    return "\n".join(kept + ([_marker(left)] if left else []))


def _marker(left: int) -> str:
    return f"… {left} more event(s) left out"


def budget_of(module: Any) -> int:
    return min(int(getattr(module, "MAX_TEXT", DEFAULT_BUDGET)), DEFAULT_BUDGET * 2)


def _now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DigestStage:
    """Stage ``digest``: an event for a digest Alert is gathered, not sent (the executor adds it
    to its window through state/digests.py; the window's flush plans the digest)."""

    name = "digest"

    def run(self, item: Any, ctx: Any) -> Any:
        from fluxnotify.errors import Outcome

        ext = item.ext
        if item.alert is None or ext.digest_seconds is None or ctx.digest:
            return item
        rule = f", sent when at least {ext.min_events} event(s) joined it" if ext.min_events else ""
        return item.ends(Outcome.GATHERED, f"gathered into the digest of {item.alert.metadata.key} "
                                           f"({ext.digest_text} window{rule})")
