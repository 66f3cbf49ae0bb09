"""ops/workers.py: worker threads survive store errors (issue 13.2: log, back off, go on); a batch's
status in one transaction, its deletes in one; the ledger read only on a redelivery."""

from __future__ import annotations

import json
import logging
import sqlite3
import time

from fluxnotify.config.files import FileStore
from fluxnotify.model.event import parse_event
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.workers import BATCH, DispatchWorkers
from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue
from fluxnotify.settings import Settings
from fluxnotify.state.status_batch import BatchedStatus


class FlakyQueue(SqliteQueue):
    """Every store call fails while ``broken`` is set, as under another program's write lock."""

    broken = True

    def _check(self):
        if self.broken:
            raise sqlite3.OperationalError("database is locked")

    def receive(self, *args, **kwargs):
        self._check()
        return super().receive(*args, **kwargs)

    def delete_many(self, ids):
        self._check()
        return super().delete_many(ids)


def test_workers_outlive_store_errors_and_deliver_afterwards(tmp_path, sink, caplog):
    manifests = f"""
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: hook, namespace: flux-system}}
spec: {{type: generic, address: "{sink.url}/hook"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: all, namespace: flux-system}}
spec: {{providerRef: {{name: hook}}, eventSources: [{{kind: Kustomization, name: "*"}}]}}
"""
    db = SqliteDatabase(str(tmp_path / "q.db"))
    queue, dead = FlakyQueue(db, "events"), SqliteQueue(db, "dead")
    for i in range(5):
        queue.send('{"event": {"involvedObject": {"kind": "Kustomization", "namespace": "flux-system", '
                   f'"name": "a"}}, "severity": "info", "message": "m{i}", "reportingController": "k"}}}}')
    workers = DispatchWorkers(FileStore(load_yaml(manifests)), queue, dead, 2, idle_poll=0.01)
    with caplog.at_level(logging.ERROR):
        workers.start()
        try:
            time.sleep(0.5)  # a few failing rounds with back-off
            assert workers.alive()
            assert sink.requests == []
            FlakyQueue.broken = False
            delivered = sink.wait_for(5, timeout=10)
        finally:
            workers.stop()
    assert sorted(r.json()["message"] for r in delivered) == [f"m{i}" for i in range(5)]
    failures = [r for r in caplog.records if "queue store failed" in r.getMessage()]
    assert len(failures) == 1  # one line per streak, not one per retry


MANIFESTS = """
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: hook, namespace: flux-system}}
spec: {{type: generic, address: "{url}/hook"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: all, namespace: flux-system}}
spec: {{providerRef: {{name: hook}}, eventSources: [{{kind: Kustomization, name: "*"}}]}}
"""


def envelope(i: int) -> str:
    return json.dumps({"event": {"involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "a"},
                                 "severity": "info", "message": f"m{i}", "reportingController": "k"},
                       "attempt": 1, "targets": None, "id": f"id-{i}"})


def test_a_batch_writes_its_status_in_one_transaction_and_its_deletes_in_one(tmp_path, sink):
    db = SqliteDatabase(str(tmp_path / "q.db"))
    queue, dead = SqliteQueue(db, "events"), SqliteQueue(db, "dead")
    for i in range(BATCH):
        queue.send(envelope(i))
    workers = DispatchWorkers(FileStore(load_yaml(MANIFESTS.format(url=sink.url))), queue, dead, 1)
    statements: list[str] = []
    db.connection.set_trace_callback(statements.append)
    workers._poll()  # one batch, in this thread
    db.connection.set_trace_callback(None)
    assert len(sink.requests) == BATCH and queue.count() == 0
    status_log = [s for s in statements if s.startswith("INSERT INTO status_log")]
    assert len(status_log) == BATCH  # every outcome recorded...
    commits = [s for s in statements if s == "COMMIT"]
    assert len(commits) == 3  # ...in one transaction, beside the batch's receive and its delete
    assert db.execute("SELECT COUNT(*) FROM status_log")[0][0] == BATCH
    # One ledger write per delivered message, and no ledger read on a first receipt.
    assert sum(s.startswith("INSERT OR REPLACE INTO ledger_delivered") for s in statements) == BATCH
    assert not any("FROM ledger_steps" in s or "INTO ledger_steps" in s for s in statements)


def test_a_redelivered_message_reads_the_ledger_and_skips_what_was_delivered(tmp_path, sink):
    db = SqliteDatabase(str(tmp_path / "q.db"))
    queue, dead = SqliteQueue(db, "events"), SqliteQueue(db, "dead")
    queue.send(envelope(1))
    workers = DispatchWorkers(FileStore(load_yaml(MANIFESTS.format(url=sink.url))), queue, dead, 1)
    claimed = queue.receive(max_messages=1)  # a worker that took it, delivered, and died before the delete
    workers.dispatcher.ledger.delivered("id-1", ["flux-system/all"])
    assert queue.release_claimed() == 1
    workers._poll()  # the second receipt
    assert claimed[0].receive_count == 1
    assert sink.requests == []  # the ledger said it was delivered: not sent twice
    assert queue.count() == 0


def test_a_failing_status_write_is_logged_and_counted_never_raised(caplog):
    class Broken:
        metrics = type("M", (), {"counts": [], "count": lambda self, name, *a, **k: self.counts.append(name)})()

        def write(self, outcomes):
            raise sqlite3.OperationalError("disk I/O error")

    store = Broken()
    status = BatchedStatus(store, store.metrics, whole=True)  # as the workers build it
    event = parse_event(json.dumps(json.loads(envelope(1))["event"]).encode())
    result = type("R", (), {"target": "ns/a", "provider": "ns/p", "provider_type": "generic", "outcome": "delivered",
                            "detail": ""})()
    status.record(event, None, [result])
    with caplog.at_level(logging.WARNING):
        status.flush()
    assert store.metrics.counts == ["StatusWriteFailed"]
    assert any("delivery status not recorded" in r.getMessage() for r in caplog.records)
    status.flush()  # nothing left: no second write
    assert store.metrics.counts == ["StatusWriteFailed"]


def test_messages_not_started_in_half_the_visibility_timeout_go_back_untouched(tmp_path, sink):
    sink.handler = lambda request: (time.sleep(0.3), (200, {}, b""))[1]  # a slow provider
    db = SqliteDatabase(str(tmp_path / "q.db"))
    queue, dead = SqliteQueue(db, "events"), SqliteQueue(db, "dead")
    for i in range(5):
        queue.send(envelope(i))
    settings = Settings(visibility_timeout=1.0)
    workers = DispatchWorkers(FileStore(load_yaml(MANIFESTS.format(url=sink.url))), queue, dead, 1, settings)
    workers._poll()  # takes all 5; delivers two (0.6 s > 0.5 s), hands three back
    assert len(sink.requests) == 2
    left = queue.receive(max_messages=10, visibility_timeout=60)
    assert len(left) == 3 and all(message.receive_count == 1 for message in left)  # as if never taken
    queue.release([message.id for message in left])
    while queue.count():
        workers._poll()
    assert sorted(r.json()["message"] for r in sink.requests) == [f"m{i}" for i in range(5)]  # each once
