"""fluxnotify.io/notify: on-change, renotify and after through `fluxnotify serve` (a real
subprocess, its SQLite file) and a capture server: changes only, the count of failures in a
row, the state kept across a kill -9, a reminder of an unchanged error."""

from __future__ import annotations

import json
import time

from test_extensions_serve import event, query, start, stop, wait_until
from test_serve import free_port, post

V = "notification.toolkit.fluxcd.io/v1beta3"
RENOTIFY = 20  # seconds: longer than a kill and a restart of serve on a busy machine


def manifests(sink_url: str) -> str:
    found = []
    for name, notes in {"changes": {"fluxnotify.io/notify": "on-change", "fluxnotify.io/renotify": f"{RENOTIFY}s"},
                        "after": {"fluxnotify.io/after": "2"}}.items():
        found.append(f"""
apiVersion: {V}
kind: Provider
metadata: {{name: {name}, namespace: flux-system}}
spec: {{type: generic, address: "{sink_url}/{name}"}}
---
apiVersion: {V}
kind: Alert
metadata: {{name: {name}, namespace: flux-system, annotations: {json.dumps(notes)}}}
spec:
  providerRef: {{name: {name}}}
  eventSources: [{{kind: Kustomization, name: '*'}}]
""")
    return "---".join(found)


def test_on_change_renotify_and_after_through_serve(tmp_path, sink):
    config, db, port = tmp_path / "flux.yaml", tmp_path / "q.db", free_port()
    config.write_text(manifests(sink.url))
    environment = {"RATE_LIMIT_INTERVAL": "0"}  # the same event again is the point here

    def send(severity: str, reason: str) -> None:
        assert post(f"http://127.0.0.1:{port}/", event("apps", reason, severity=severity))[0] == 202
        wait_until(lambda: query(db, "SELECT COUNT(*) FROM messages WHERE queue = 'events'") == [(0,)], 20,
                   "event not handled")

    def sent(path: str) -> list[tuple[str, str, str | None]]:
        return [(r.json()["severity"], r.json()["reason"], r.json()["metadata"].get("reminder"))
                for r in sink.requests if r.path == f"/{path}"]

    process = start(config, db, port, env=environment)
    try:
        send("info", "ReconciliationSucceeded")
        send("info", "ReconciliationSucceeded")
        send("error", "HealthCheckFailed")
        failed_at = time.monotonic()
        send("error", "HealthCheckFailed")
        process.kill()  # kill -9: the state is in serve's file
        process.wait()
        process = start(config, db, port, env=environment)
        send("error", "HealthCheckFailed")
        assert time.monotonic() - failed_at < RENOTIFY, "too slow to tell a skip from a reminder"
        time.sleep(max(0.0, failed_at + RENOTIFY + 1 - time.monotonic()))
        send("error", "HealthCheckFailed")  # unchanged for longer than renotify: a reminder
        send("info", "ReconciliationSucceeded")
    finally:
        stop(process)
    ok, failed = ("info", "ReconciliationSucceeded", None), ("error", "HealthCheckFailed", None)
    assert sent("changes") == [ok, failed, ("error", "HealthCheckFailed", "true"), ok]
    assert sent("after") == [ok, ok, failed, failed, failed, ok]  # from the second failure in a row on
    rows = query(db, "SELECT alert, state, failures FROM onchange ORDER BY alert")
    assert rows == [("flux-system/after", "", 0), ("flux-system/changes", "info/ReconciliationSucceeded", 0)]
