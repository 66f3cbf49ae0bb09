"""Events forwarded by notification-controller (a `generic`/`generic-hmac` Provider).

Such an event has already been through the reference's metadata pipeline (spec §2.4): its
keys are bare (`revision`, `summary`, …), and fluxnotify's own clean-up would drop them all.

The rule (docs/differences.md "Forwarded events"): a request is forwarded when

1. it carries a `Gotk-Component` header — notification-controller's generic providers always
   send it (spec §1.5), a Flux controller's event recorder never does; and
2. no metadata key carries a prefix the reference strips (`event.toolkit.fluxcd.io/` or
   `<object group>/`) — a processed body has none, so a raw event that happens to come with
   the header is still cleaned as usual.

A forwarded event is turned back into the raw form the rest of fluxnotify expects: each bare
key gets the object-group prefix, so the pipeline's own step C hands it back unchanged and
with the highest precedence, and the drop rules read it (`commit_status`). The keys the
reference reads under the event-group prefix (`commit`, `change_request`), and those the
clean-up would drop under the object-group prefix (`checksum`, `digest`, `token`, which
the forwarding controller already chose to keep), get the event-group prefix instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from fluxnotify.model.event import EVENT_GROUP_PREFIX, Event

FORWARD_HEADER = "gotk-component"
EVENT_GROUP_KEYS = frozenset({"commit", "change_request", "checksum", "digest", "token"})


def is_forwarded(headers: Mapping[str, str], event: Event) -> bool:
    """The documented rule above; ``headers`` have lower-case names."""
    if FORWARD_HEADER not in headers:
        return False
    group_prefix = event.group + "/"
    return not any(
        key.startswith(EVENT_GROUP_PREFIX) or key.startswith(group_prefix) for key in event.metadata
    )


def as_raw(event: Event) -> Event:
    """The forwarded event with prefixed keys, as a Flux controller would have sent it."""
    group_prefix = event.group + "/"
    return event.with_metadata(
        {(EVENT_GROUP_PREFIX if key in EVENT_GROUP_KEYS else group_prefix) + key: value
         for key, value in event.metadata.items()}
    )
