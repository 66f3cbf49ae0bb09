"""Flux's Event API v1 fields: ``action`` and ``relatedObject`` (Flux 2.10).

The action is what the controller was doing (Reconciling, Applied, Failed, ...). Flux may
add actions later, so any string is accepted: only its JSON type and length are checked.
``relatedObject`` is an ObjectReference like ``involvedObject``; event.py parses it with
the same rules (keys case-insensitive, unknown keys ignored, string values).

Go field order (``Event.to_dict``): the two fields are new members of the Go struct,
declared after the existing ones, both ``omitempty``, so an event without them keeps
its exact bytes and one with them ends ``...,"reportingInstance":"…","action":"…",
"relatedObject":{…}}``.
"""

from __future__ import annotations

from typing import Any

from fluxnotify.model import jsonpairs as jp
from fluxnotify.model.jsonpairs import EventError

# The actions Flux 2.10 names; others are accepted (documented, used by examples only).
ACTIONS = (
    "Reconciling", "Reconciled", "Fetching", "Fetched", "Applying", "Applied", "Deleting",
    "Deleted", "Validating", "Validated", "Waiting", "Progressing", "Failed",
)
MAX_ACTION = 128  # Flux's actions are single words; a longer value is not an action


def parse_action(value: Any) -> str:
    """The ``action`` field: a string of at most MAX_ACTION characters."""
    text = jp.string(value, "action")
    if len(text) > MAX_ACTION:
        raise EventError(f"action is longer than {MAX_ACTION} characters", "action")
    return text
