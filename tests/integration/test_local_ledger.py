"""The local stack's dispatcher workers keep the delivery ledger in the serve database."""

from __future__ import annotations

import json

from fluxnotify.config.files import FileStore
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.workers import MAX_RECEIVES, DispatchWorkers
from fluxnotify.queue.messages import Envelope
from fluxnotify.queue.sqlite import Message, SqliteDatabase, SqliteQueue
from fluxnotify.settings import Settings

EVENT = {"involvedObject": {"kind": "Kustomization", "name": "apps", "namespace": "flux-system"},
         "severity": "info", "message": "m", "reason": "ReconciliationSucceeded",
         "reportingController": "kustomize-controller", "timestamp": "2026-11-25T10:15:30Z"}


def manifests(url: str) -> str:
    docs = []
    for name in ("a", "b"):
        docs.append(f"""apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: {name}, namespace: flux-system}}
spec: {{type: generic, address: "{url}/{name}"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: to-{name}, namespace: flux-system}}
spec:
  providerRef: {{name: {name}}}
  eventSources: [{{kind: Kustomization, name: "*"}}]
""")
    return "---\n".join(docs)


def workers(tmp_path, sink):
    db = SqliteDatabase(str(tmp_path / "serve.db"))
    queue, dead = SqliteQueue(db, "events"), SqliteQueue(db, "dead")
    pool = DispatchWorkers(FileStore(load_yaml(manifests(sink.url))), queue, dead, 1, Settings(retry_base=0))
    return pool, queue, dead


def test_a_message_handled_again_after_a_crash_sends_nothing_twice(tmp_path, sink):
    pool, queue, dead = workers(tmp_path, sink)
    sink.handler = lambda r: (503, {}, b"busy") if r.path == "/b" else (200, {}, b"ok")
    message = Message("local-1", Envelope(EVENT).to_json(), 1)
    pool.dispatcher.handle(message.body, message.id)  # handled, then the process died before the delete
    pool._process(Message(message.id, message.body, 2))
    assert sorted(r.path for r in sink.requests) == ["/a", "/b"]
    assert len(queue.all()) == 1  # one follow-up, for b


def test_max_receives_dead_letters_only_the_targets_not_delivered(tmp_path, sink):
    pool, queue, dead = workers(tmp_path, sink)
    sink.handler = lambda r: (503, {}, b"busy") if r.path == "/b" else (200, {}, b"ok")
    body = Envelope(EVENT).to_json()
    try:
        pool.dispatcher.queue = None  # the follow-up write fails: the message stays, b undelivered
        pool._process(Message("local-2", body, 1))
    finally:
        pool.dispatcher.queue = queue
    pool._process(Message("local-2", body, MAX_RECEIVES + 1))
    letters = [json.loads(m.body) for m in dead.all()]
    assert [letter["targets"] for letter in letters] == [["flux-system/to-b"]]
    assert letters[0]["reason"] == "max receives exceeded"
