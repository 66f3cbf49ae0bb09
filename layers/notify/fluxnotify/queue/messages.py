"""Queue message bodies shared by the receiver and the dispatcher (see dispatcher.py)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from fluxnotify.model.event import Event


@dataclass
class Envelope:
    event: dict[str, Any]
    attempt: int = 1
    targets: list[str] | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> str:
        return json.dumps(
            {"event": self.event, "attempt": self.attempt, "targets": self.targets, "id": self.id},
            ensure_ascii=False,
            separators=(",", ":"),
        )


def new_envelope(event: Event) -> Envelope:
    return Envelope(event=event.to_dict())


class UndecodableMessage(ValueError):
    pass


def parse_envelope(body: str) -> Envelope:
    try:
        data = json.loads(body)
    except ValueError as err:
        raise UndecodableMessage(f"message body is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise UndecodableMessage("message body is not a JSON object")
    if "event" not in data:
        return Envelope(event=data)  # a bare Flux event
    targets = data.get("targets")
    if targets is not None and not (
        isinstance(targets, list) and all(isinstance(t, str) for t in targets)
    ):
        raise UndecodableMessage("targets must be a list of alert names")
    attempt = data.get("attempt", 1)
    if "error" in data or not isinstance(attempt, int) or attempt < 1:
        attempt = 1  # a replayed dead letter starts over
    return Envelope(data["event"], attempt, targets, str(data.get("id") or uuid.uuid4()))
