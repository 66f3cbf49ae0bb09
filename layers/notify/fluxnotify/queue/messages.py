"""Queue message bodies shared by the receiver and the dispatcher (see dispatcher.py)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from fluxnotify.model.event import Event

DEFAULT_CLUSTER = "default"  # events of an unnamed cluster (one plain webhook token)


@dataclass
class Envelope:
    event: dict[str, Any]
    attempt: int = 1
    targets: list[str] | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    cluster: str = DEFAULT_CLUSTER  # the cluster whose token the receiver accepted

    def to_json(self) -> str:
        return json.dumps(
            {
                "event": self.event,
                "attempt": self.attempt,
                "targets": self.targets,
                "id": self.id,
                "cluster": self.cluster,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )


def new_envelope(event: Event, cluster: str = DEFAULT_CLUSTER) -> Envelope:
    return Envelope(event=event.to_dict(), cluster=cluster)


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
    cluster = data.get("cluster")
    if not isinstance(cluster, str) or not cluster:
        cluster = DEFAULT_CLUSTER  # messages of earlier versions
    return Envelope(data["event"], attempt, targets, str(data.get("id") or uuid.uuid4()), cluster)
