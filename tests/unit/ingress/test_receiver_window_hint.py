"""The 429 body says how to change the duplicate window (issue 24 point 12)."""

from __future__ import annotations

import json

from fluxnotify.ingress.receiver import Receiver
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.dedup import SqliteDedup
from helpers import MemoryQueue

EVENT = json.dumps({
    "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"},
    "severity": "info", "timestamp": "2024-05-01T10:00:00Z", "message": "done", "reason": "Succeeded",
    "reportingController": "kustomize-controller",
}).encode()


def test_the_429_body_names_every_way_to_change_the_window(tmp_path):
    receiver = Receiver(MemoryQueue(), SqliteDedup(SqliteDatabase(str(tmp_path / "d.db")), interval=300))
    assert receiver.handle("POST", "/", {}, EVENT).status == 202
    second = receiver.handle("POST", "/", {}, EVENT)
    assert second.status == 429
    error = json.loads(second.body)["error"]
    assert error.startswith("duplicate event inside the rate-limit window (until ")
    assert second.headers["X-RateLimit-Reset"] in error
    for name in ("RATE_LIMIT_INTERVAL", "--rate-limit-interval", "RateLimitInterval", "0 turns"):
        assert name in error
