"""Queue message bodies shared by the receiver and the dispatcher (see dispatcher.py)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from fluxnotify.model.event import Event

DEFAULT_CLUSTER = "default"  # events of an unnamed cluster (one plain webhook token)
MESSAGE_VERSION = 1  # a body may say "version": 1; absent means 1


@dataclass
class Envelope:
    event: dict[str, Any]
    attempt: int = 1
    targets: list[str] | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    cluster: str = DEFAULT_CLUSTER  # the cluster whose token the receiver accepted
    chain: str = ""  # "" for the receiver's retry chain; a replayed dead letter starts a new one

    @property
    def step(self) -> str:
        """This message's place in its retry chain: the same for every copy of a follow-up."""
        return f"{self.chain}:{self.attempt}"

    @property
    def from_receiver(self) -> bool:
        """The receiver's message (attempt 1, every target, no replay chain): on its first
        receipt nothing can be in the delivery ledger yet, its id is new."""
        return self.attempt == 1 and self.targets is None and not self.chain

    def to_json(self) -> str:
        data = {"event": self.event, "attempt": self.attempt, "targets": self.targets, "id": self.id,
                "cluster": self.cluster}
        if self.chain:
            data["chain"] = self.chain
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def new_envelope(event: Event, cluster: str = DEFAULT_CLUSTER) -> Envelope:
    return Envelope(event=event.to_dict(), cluster=cluster)


class UndecodableMessage(ValueError):
    pass


def parse_envelope(body: str, default_id: str | None = None) -> Envelope:
    """The message; ``default_id`` (the queue's message id) names a message without an id."""
    try:
        data = json.loads(body)
    except ValueError as err:
        raise UndecodableMessage(f"message body is not JSON: {err}") from None
    except RecursionError:
        raise UndecodableMessage("message body is nested too deeply") from None
    if not isinstance(data, dict):
        raise UndecodableMessage("message body is not a JSON object")
    if data.get("version", MESSAGE_VERSION) != MESSAGE_VERSION:
        raise UndecodableMessage(f"unknown message version {str(data.get('version'))[:20]!r}")
    message_id = str(data.get("id") or default_id or uuid.uuid4())
    if "event" not in data:
        return Envelope(event=data, id=message_id)  # a bare Flux event
    if not isinstance(data["event"], dict):
        raise UndecodableMessage("event must be a JSON object")
    targets = data.get("targets")
    if targets is not None and not (
        isinstance(targets, list) and all(isinstance(t, str) for t in targets)
    ):
        raise UndecodableMessage("targets must be a list of alert names")
    attempt = data.get("attempt", 1)
    if "error" in data or not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        attempt = 1  # a replayed dead letter starts over
    cluster = data.get("cluster")
    if not isinstance(cluster, str) or not cluster:
        cluster = DEFAULT_CLUSTER  # messages of earlier versions
    chain = data.get("chain")
    chain = chain if isinstance(chain, str) else ""
    if "error" in data:  # a replayed dead letter: a new chain, the same for every copy of it
        chain = "replay-" + hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return Envelope(data["event"], attempt, targets, message_id, cluster, chain)
