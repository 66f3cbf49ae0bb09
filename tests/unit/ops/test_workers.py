"""Issue 13.2: dispatcher worker threads survive store errors (log, back off, go on)."""

from __future__ import annotations

import logging
import sqlite3
import time

from fluxnotify.config.files import FileStore
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.workers import DispatchWorkers
from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue


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
