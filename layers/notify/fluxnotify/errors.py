"""The one failure vocabulary: what can end a delivery, and what happens next.

Every planned delivery ends in exactly one ``Outcome``. Exceptions map to outcomes through
``classify`` — used by the executor (follow-ups), the status store (what people see),
metrics and logs — so the decision "retry or give up" is written once::

    Exception
    ├── Skip                      a rule keeps the event from this Provider     → SKIPPED
    │                             (drop rules, filters, a provider's own rule)
    ├── Permanent                 retrying cannot help                          → DEAD
    │   ├── ConfigError           config.options: the Provider/Alert/Secret is unusable
    │   │                         (also: a missing Provider, a refused annotation)
    │   └── ProviderError         providers.base: this event cannot be encoded (e.g.
    │                             missing revision metadata)
    ├── DeliveryFailed            the far side answered or the network failed (spec §4.3)
    │   └── DeliveryError         transport.http: ``retryable`` → RETRY, else DEAD;
    │                             ``retry_after`` (Retry-After) bounds the back-off
    └── anything else             a bug: RETRY, "internal error: …" (never lose the event)

Outcomes that no exception produces: DELIVERED (sent, 2xx), GATHERED (held by a digest
window, sent later by its flush) and UNFINISHED (the invocation's deadline came first: the
message is left to the queue untouched). A RETRY past the last attempt becomes DEAD.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    DELIVERED = "delivered"
    SKIPPED = "skipped"
    GATHERED = "gathered"
    RETRY = "retry"
    DEAD = "dead"
    UNFINISHED = "unfinished"

    @property
    def status_name(self) -> str:
        """The name shown by `fluxnotify status` and stored in status items."""
        return _STATUS_NAMES[self]

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The counters one delivery with this outcome adds to."""
        return _METRICS[self]

    @property
    def failed(self) -> bool:
        return self in (Outcome.RETRY, Outcome.DEAD)


_STATUS_NAMES = {
    Outcome.DELIVERED: "delivered", Outcome.SKIPPED: "skipped", Outcome.GATHERED: "skipped",
    Outcome.RETRY: "retrying", Outcome.DEAD: "dead-lettered", Outcome.UNFINISHED: "unfinished",
}  # fmt: skip
_METRICS = {
    Outcome.DELIVERED: (),  # counted by DeliveryLatency: one value per delivery (its SampleCount)
    Outcome.SKIPPED: ("DeliveriesSkipped",),
    Outcome.GATHERED: ("DeliveriesSkipped",),  # a gathered event is not sent on its own
    Outcome.RETRY: ("DeliveriesFailed", "DeliveriesRetried"),
    Outcome.DEAD: ("DeliveriesFailed", "DeliveriesDeadLettered"),
    Outcome.UNFINISHED: (),
}


class Skip(Exception):
    """A rule keeps this event from this Provider; the message is the rule."""


class Permanent(Exception):
    """A failure that retrying cannot mend."""


class DeliveryFailed(Exception):
    """A send that failed; ``retryable`` per spec §4.3, ``retry_after`` in seconds."""

    retryable: bool = False
    retry_after: float | None = None


def classify(err: BaseException) -> tuple[Outcome, str, float | None]:
    """(outcome, detail, retry_after) of an exception raised while planning or sending.

    The detail is the exception's text; callers redact secrets from it before it is logged,
    stored or dead-lettered.
    """
    if isinstance(err, Skip):
        return Outcome.SKIPPED, str(err), None
    if isinstance(err, DeliveryFailed):
        return (Outcome.RETRY if err.retryable else Outcome.DEAD), str(err), err.retry_after
    if isinstance(err, Permanent):
        return Outcome.DEAD, str(err), None
    return Outcome.RETRY, f"internal error: {err!r}", None
