"""Alert annotation `fluxnotify.io/digest: <duration>` (and `fluxnotify.io/min-events: N`).

An event routed to a digest Alert is not sent: after the drop rules, filters, metadata
merge and template it becomes one line in the window of (Alert, Provider) — the window opens
with its first event and is held by the store (state/digests.py). The message that opened a
window of at most 15 minutes also queues a *flush message* delayed to the window's end; a
longer window is listed in the store, and ``sweep`` (every few minutes: an EventBridge
schedule on the dispatcher, a timer of serve) queues its flush message once its end is less
than 15 minutes away. A chain of 15-minute delays would be one SQS→Lambda chain per window,
which Lambda's recursive-loop detection stops at 16 invocations (3.75 h); a swept window's
flush is one hop from the schedule whatever its length. The flush closes the window and sends one notification: the worst
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
from fluxnotify.state.digests import DigestStore, Entry, FlushBusy, Window, message_key, swept

logger = logging.getLogger(__name__)

DIGEST_ID_PREFIX = "digest-"  # message id of a digest notification (and of its dead letter)
DEFAULT_BUDGET = 3000  # characters of digest text, unless the provider module has MAX_TEXT
MAX_LINE = 300
SWEEP_SECONDS = 300  # how often the sweep runs (template.yaml's schedule, serve's timer): < MAX_DELAY_SECONDS


def clock() -> float:
    """The time digests go by (tests move it)."""
    return time.time()


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
    now = clock()
    window = store.add(entry, now)
    # Also when this message is redelivered: flushes are idempotent. A long window: sweep().
    if window.opener == message_key(envelope.id) and not swept(entry.seconds):
        queue.send(flush_body(window), _delay(window.due, now))
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


def sweep(store: DigestStore, queue: Any, now: float | None = None) -> int:
    """Queue the flush of every long window that ends within the queue's longest delay (or has
    ended); the number queued. A crash between the two writes queues a flush twice: harmless."""
    now = clock() if now is None else now
    windows = store.due(now + MAX_DELAY_SECONDS)
    for window in windows:
        queue.send(flush_body(window), _delay(window.due, now))
        store.swept(window.key, window.window)
    return len(windows)


def _delay(due: float, now: float | None = None) -> int:
    return max(0, min(MAX_DELAY_SECONDS, math.ceil(due - (clock() if now is None else now))))


def flush(store: DigestStore, data: dict, queue: Any, alerts: list[Alert], metrics: Any, deliver_digest) -> list:
    """Handle a flush message: send the window's digest once (see the module docstring)."""
    digest, attempt, now = data["digest"], int(data.get("attempt") or 1), clock()
    if float(digest["due"]) - now > 1:  # early (a message of an earlier release): one more hop
        queue.send(json.dumps(data), _delay(float(digest["due"]), now))
        return []
    try:
        window = store.close(digest["key"], digest["window"], now)
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
        ext = item.ext
        if item.alert is None or ext.digest_seconds is None or ctx.digest:
            return item
        from fluxnotify.errors import Outcome

        rule = f", sent when at least {ext.min_events} event(s) joined it" if ext.min_events else ""
        return item.ends(Outcome.GATHERED, f"gathered into the digest of {item.alert.metadata.key} "
                                           f"({ext.digest_text} window{rule})")
