"""MARKDOWN(event) of spec §5.0: the "Flux Status" text of zulip and the change-request comments."""

from __future__ import annotations

from fluxnotify.model.event import Event

CHANGE_REQUEST_KEY = "change_request"  # names the pull/merge request; never shown in the text


def flux_status_markdown(event: Event) -> str:
    """Status emoji, object, message and the metadata sorted by key (``change_request`` left out)."""
    ref = event.involved_object
    emoji = "\u26a0\ufe0f" if event.severity == "error" else "\u2139\ufe0f"
    lines = "".join(
        f"* `{key}`: {event.metadata[key]}\n" for key in sorted(event.metadata) if key != CHANGE_REQUEST_KEY
    )
    return (
        f"## Flux Status\n\n{emoji} {ref.kind}/{ref.namespace}/{ref.name}\n\n"
        f"{event.message}\n\nMetadata:\n{lines}"
    )
