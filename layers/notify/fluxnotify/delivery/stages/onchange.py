"""Stage ``on-change``: Alert annotations ``fluxnotify.io/notify: on-change``,
``fluxnotify.io/renotify: <duration>`` and ``fluxnotify.io/after: "N"`` (docs/extensions.md).

Per (Alert, Provider, cluster, object) the state store (state/onchange.py) keeps the last
notified state — severity and reason — and, with ``after``, the errors in a row:

* on-change: an event in the state last notified is skipped ("unchanged since <time>");
  an event in another state (or the first one) is notified and becomes the state;
* renotify (with on-change): an unchanged *error* is notified again once the interval has
  passed since its last notification — a reminder, marked with metadata ``reminder: "true"``;
* after N: an error is notified only from the Nth error in a row on (the first N-1 are
  skipped, "failure k of N"); any other severity resets the count.

The decision is made here, in the planner, and recorded with a compare-and-set before the
event is sent: the message that wins it notifies, a concurrent duplicate reads the new state
and is skipped. A state is therefore recorded when a notification is *planned*; if the send
then fails, its retry (attempt > 1) and a replayed dead letter (targets set) were decided
already and pass this stage untouched, and a redelivered message (a crash, a timeout) finds
its own id on the mark and gets the same answer without a second write. A failing store
fails the plan (retried, then notified): a lost notification is worse than a repeated one.
`render` writes nothing: without a stored state it decides as on an empty one (the first event
notifies, "would notify (no stored state)"; with ``after`` an error is "failure 1 of N"); with
``--db`` it reads serve's state (``ctx.preview``: decide, do not write).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from fluxnotify.delivery.annotations import AFTER, NOTIFY, ON_CHANGE, RENOTIFY, AlertExtensions
from fluxnotify.delivery.plan import Context, Planned
from fluxnotify.errors import Outcome
from fluxnotify.model.event import Event
from fluxnotify.state.onchange import Mark, OnChangeStore

logger = logging.getLogger(__name__)

STATE_TTL = 7 * 24 * 3600.0  # a state is kept at least this long after the last event (or renotify)
TOUCH_SECONDS = 24 * 3600.0  # an unchanged event rewrites its mark (expiry) at most this often
CAS_ATTEMPTS = 5
MAX_KEY = 512  # longer keys (names come from events) are hashed
MAX_STATE = 256
REMINDER = "reminder"  # metadata key of a reminder


def clock() -> float:
    """The time states go by (tests move it)."""
    return time.time()


@dataclass(frozen=True)
class Decision:
    notify: bool
    rule: str = ""  # the skip rule, or a note on a notification
    reminder: bool = False
    mark: Mark | None = None  # what to record (None: nothing)


def object_key(alert: str, provider: str, cluster: str, event: Event) -> str:
    ref = event.involved_object
    key = f"{alert}|{provider}|{cluster}|{ref.kind}/{ref.namespace}/{ref.name}"
    return key if len(key) <= MAX_KEY else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def state_of(event: Event) -> str:
    state = f"{event.severity}/{event.reason}"
    return state if len(state) <= MAX_STATE else f"{event.severity}/sha256:{hashlib.sha256(state.encode()).hexdigest()}"


def expiry_seconds(ext: AlertExtensions) -> float:
    return max(ext.renotify_seconds or 0.0, STATE_TTL) + TOUCH_SECONDS


def decide(mark: Mark | None, event: Event, ext: AlertExtensions, now: float, message_id: str) -> Decision:
    """What to do with ``event`` given the stored ``mark``, and the mark to record."""
    if mark is not None and message_id and mark.by == message_id:
        return _again(mark, ext, event)  # a redelivery of the message that decided: the same answer
    error = event.severity == "error"
    prior = mark or Mark()
    failures = min(prior.failures + 1, ext.after) if error and ext.after is not None else 0
    stamp: dict[str, Any] = {"by": message_id, "seen": now, "failures": failures}
    if ext.after is not None and error and failures < ext.after:
        return Decision(False, _after_rule(ext.after, failures), mark=replace(prior, decision="", **stamp))
    state = state_of(event)
    if ext.on_change and mark is not None and mark.state == state:
        if ext.renotify_seconds is not None and error and now - mark.notified >= ext.renotify_seconds:
            note = f"{RENOTIFY}: {ext.renotify_text}: reminder, unchanged since {_text(mark.since)}"
            return Decision(True, note, True, replace(prior, decision="remind", notified=now, **stamp))
        stale = failures != mark.failures or now - mark.seen >= TOUCH_SECONDS
        return Decision(False, _unchanged_rule(mark, ext, error), mark=replace(prior, decision="", **stamp)
                        if stale else None)
    if ext.on_change:
        was = f" (was {mark.state} since {_text(mark.since)})" if mark is not None and mark.state else ""
        return Decision(True, f"{NOTIFY}: {ON_CHANGE}: changed to {state}{was}",
                        mark=Mark(state, now, now, failures, message_id, "notify", now))
    # after alone: whatever is not held back is notified; only the count is kept
    return Decision(True, "", mark=replace(prior, decision="notify", **stamp) if failures != prior.failures else None)


def preview_note(ext: AlertExtensions) -> str:
    """render, without a stored state, of an event it would notify."""
    names = ([f"{NOTIFY}: {ON_CHANGE}"] if ext.on_change else []) + ([f"{AFTER}: {ext.after}"] if ext.after else [])
    return "; ".join(f"{name}: would notify (no stored state)" for name in names)


def _again(mark: Mark, ext: AlertExtensions, event: Event) -> Decision:
    if mark.decision:
        return Decision(True, "already decided for this message", mark.decision == "remind")
    if ext.after is not None and 0 < mark.failures < ext.after:
        return Decision(False, _after_rule(ext.after, mark.failures))
    return Decision(False, _unchanged_rule(mark, ext, event.severity == "error"))


def _after_rule(after: int, failures: int) -> str:
    return f"{AFTER}: {after}: failure {failures} of {after} in a row"


def _unchanged_rule(mark: Mark, ext: AlertExtensions, error: bool) -> str:
    rule = f"{NOTIFY}: {ON_CHANGE}: unchanged since {_text(mark.since)}"
    if ext.renotify_seconds is not None and error:
        rule += f"; reminder from {_text(mark.notified + ext.renotify_seconds)}"
    return rule


def _text(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _with_reminder(item: Planned) -> Planned:
    assert item.event is not None
    return replace(item, event=replace(item.event, metadata={**item.event.metadata, REMINDER: "true"}))


class OnChangeStage:
    name = "on-change"

    def run(self, item: Planned, ctx: Context) -> Planned:
        ext, raw, alert = item.ext, item.raw, item.alert
        if alert is None or raw is None or not ext.tracks_state or ctx.digest:
            return item  # a digest's events were decided one by one
        key = object_key(alert.metadata.key, item.provider_key, ctx.cluster, raw)
        if ctx.onchange is None:  # render: decide as on an empty state, which is what it has
            fresh = decide(None, raw, ext, clock(), ctx.message_id)
            return replace(item, detail=preview_note(ext)) if fresh.notify else item.ends(Outcome.SKIPPED, fresh.rule)
        if ctx.retry:  # decided by its first attempt: only keep a reminder a reminder
            return _with_reminder(item) if self._was_reminder(ctx.onchange, key, ctx.message_id) else item
        decision = self._decide(ctx.onchange, key, alert.metadata.key, raw, ext, ctx)
        if not decision.notify:
            return item.ends(Outcome.SKIPPED, decision.rule)
        return replace(_with_reminder(item) if decision.reminder else item, detail=decision.rule)

    @staticmethod
    def _decide(store: OnChangeStore, key: str, alert: str, event: Event, ext: AlertExtensions,
                ctx: Context) -> Decision:
        """Read, decide, compare-and-set; read again when another dispatcher wrote first."""
        for _ in range(CAS_ATTEMPTS):
            now = clock()
            mark = store.get(key, now)
            decision = decide(mark, event, ext, now, ctx.message_id)
            if decision.mark is None or ctx.preview:
                return decision
            expected = None if mark is None else mark.version
            if store.put(key, alert, decision.mark, expected, now + expiry_seconds(ext)):
                return decision
        logger.warning("on-change state busy: notifying", extra={"alert": alert, "attempts": CAS_ATTEMPTS})
        return Decision(True, f"{NOTIFY}: state busy after {CAS_ATTEMPTS} attempts: notified")

    @staticmethod
    def _was_reminder(store: OnChangeStore, key: str, message_id: str) -> bool:
        try:
            mark = store.get(key, clock())
        except Exception as err:  # only a marker is at stake: the retry goes on
            logger.warning("on-change state read failed", extra={"error": repr(err)[:300]})
            return False
        return mark is not None and bool(message_id) and mark.by == message_id and mark.decision == "remind"
