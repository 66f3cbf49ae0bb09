"""The fluxnotify.io/* extensions through `fluxnotify serve` (a real subprocess) and capture servers:
a digest survives a kill -9 in the middle of its window and is sent exactly once; templates,
reason filters, Slack threads and --no-cross-namespace-refs end to end."""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from test_serve import FLUXNOTIFY, ROOT, free_port, post

V = "notification.toolkit.fluxcd.io/v1beta3"


def start(config: Path, db: Path, port: int, *extra: str, env: dict | None = None) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "notify"),
                                                               os.environ.get("PYTHONPATH", "")]),
                   "LOG_LEVEL": "WARNING", **(env or {})}
    process = subprocess.Popen(
        [*FLUXNOTIFY, "serve", "--config", str(config), "--db", str(db), "--port", str(port), *extra],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_until(lambda: _answers(port) or process.poll() is not None, 30, "serve did not start")
    if process.poll() is not None:
        raise AssertionError(process.stderr.read().decode())
    return process


def _answers(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def wait_until(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.05)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def query(db: Path, sql: str) -> list[tuple]:
    connection = sqlite3.connect(db, timeout=5)
    try:
        return connection.execute(sql).fetchall()
    except sqlite3.OperationalError:  # the table does not exist yet
        return []
    finally:
        connection.close()


def event(name: str, reason: str = "HealthCheckFailed", *, namespace: str = "flux-system",
          kind: str = "Kustomization", severity: str = "error") -> bytes:
    group = "helm" if kind == "HelmRelease" else "kustomize"
    return json.dumps({
        "involvedObject": {"kind": kind, "namespace": namespace, "name": name,
                           "apiVersion": f"{group}.toolkit.fluxcd.io/v1"},
        "severity": severity, "timestamp": "2026-01-01T00:00:00Z", "message": f"{name} is unhealthy\ndetails",
        "reason": reason, "metadata": {f"{group}.toolkit.fluxcd.io/revision": "v1"},
        "reportingController": f"{group}-controller"}).encode()


DIGEST_WINDOW = 12  # seconds: longer than a kill and a restart of serve on a busy machine


def test_digest_survives_a_kill_mid_window_and_is_sent_exactly_once(tmp_path, sink):
    config = tmp_path / "flux.yaml"
    config.write_text(f"""
apiVersion: {V}
kind: Provider
metadata: {{name: digest, namespace: flux-system}}
spec: {{type: generic, address: "{sink.url}/digest"}}
---
apiVersion: {V}
kind: Alert
metadata:
  name: digest
  namespace: flux-system
  annotations: {{fluxnotify.io/digest: {DIGEST_WINDOW}s, fluxnotify.io/min-events: "3"}}
spec:
  providerRef: {{name: digest}}
  eventSources: [{{kind: Kustomization, name: '*'}}]
""")
    db, port = tmp_path / "q.db", free_port()
    process = start(config, db, port)
    try:
        for name in ("apps", "infra"):
            assert post(f"http://127.0.0.1:{port}/", event(name))[0] == 202
        wait_until(lambda: query(db, "SELECT count FROM digest_windows") == [(2,)], 20, "events not gathered")
        process.kill()  # kill -9 in the middle of the window
        process.wait()
        process = start(config, db, port)
        assert post(f"http://127.0.0.1:{port}/", event("monitoring"))[0] == 202
        wait_until(lambda: query(db, "SELECT count FROM digest_windows") == [(3,)], 20, "third event not gathered")
        assert sink.requests == []  # still inside the window, across the restart
        assert len(sink.wait_for(1, timeout=DIGEST_WINDOW + 20)) == 1
        # Exactly once: the window is sent and nothing is left in the queue that could send it again.
        wait_until(lambda: query(db, "SELECT COUNT(*) FROM messages WHERE queue = 'events'") == [(0,)], 20,
                   "queue not drained")
        assert query(db, "SELECT state FROM digest_windows") == [("sent",)]
    finally:
        stop(process)
    (request,) = sink.requests
    body = request.json()
    assert body["metadata"] == {"events": "3"} and body["severity"] == "error"
    lines = body["message"].splitlines()
    expected = [f"Kustomization/flux-system/{n}: HealthCheckFailed: {n} is unhealthy" for n in ("apps", "infra", "monitoring")]
    # apps and infra are gathered by two workers at once: either may be first; monitoring came later.
    assert sorted(lines[:2]) == expected[:2] and lines[2] == expected[2]


def test_templates_reasons_threads_and_no_cross_namespace_refs_through_serve(tmp_path, sink):
    numbers = itertools.count(1)
    sink.handler = lambda r: (200, {}, json.dumps({"ok": True, "ts": f"9.{next(numbers)}"}).encode()
                              if r.path.startswith("/slack") else b"ok")
    config = tmp_path / "flux.yaml"
    config.write_text(f"""
apiVersion: {V}
kind: Provider
metadata: {{name: hook, namespace: flux-system}}
spec: {{type: generic, address: "{sink.url}/hook"}}
---
apiVersion: {V}
kind: Alert
metadata:
  name: hook
  namespace: flux-system
  annotations:
    fluxnotify.io/message: "{{{{ event.reason }}}} on {{{{ event.involvedObject.name }}}} (rev {{{{ event.metadata.revision }}}})"
    fluxnotify.io/exclude-reasons: "Progressing"
spec:
  providerRef: {{name: hook}}
  eventSources: [{{kind: Kustomization, name: '*', namespace: '*'}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: slack, namespace: flux-system}}
stringData: {{token: xoxb-serve-thread}}
---
apiVersion: {V}
kind: Provider
metadata:
  name: slack
  namespace: flux-system
  annotations: {{fluxnotify.io/thread: object}}
spec: {{type: slack, channel: C9, address: "https://slack.com/api/chat.postMessage", secretRef: {{name: slack}}}}
---
apiVersion: {V}
kind: Alert
metadata: {{name: slack, namespace: flux-system}}
spec:
  providerRef: {{name: slack}}
  eventSources: [{{kind: HelmRelease, name: '*'}}]
""")
    port = free_port()
    process = start(config, tmp_path / "q.db", port, "--no-cross-namespace-refs",
                    env={"SLACK_API_URL": sink.url + "/slack", "RATE_LIMIT_INTERVAL": "0"})
    try:
        url = f"http://127.0.0.1:{port}/"
        post(url, event("apps", "ReconciliationSucceeded", severity="info"))
        post(url, event("apps", "Progressing", severity="info"))  # excluded by reason
        post(url, event("other", namespace="team-b"))  # another namespace: blocked by the flag
        wait_until(lambda: len([r for r in sink.requests if r.path == "/hook"]) == 1, 15, "hook not delivered")
        for count, severity in enumerate(("info", "error"), start=1):
            post(url, event("podinfo", "InstallFailed", kind="HelmRelease", severity=severity))
            wait_until(lambda n=count: len([r for r in sink.requests if r.path.startswith("/slack")]) == n, 15,
                       "slack not delivered")
            # the parent's ts is kept once Slack has answered
            wait_until(lambda: query(tmp_path / "q.db", "SELECT ts FROM threads") == [("9.1",)], 15, "no thread")
    finally:
        stop(process)
    (hook,) = [r.json() for r in sink.requests if r.path == "/hook"]
    assert hook["message"] == "ReconciliationSucceeded on apps (rev v1)"
    parent, reply = [r.json() for r in sink.requests if r.path == "/slack/chat.postMessage"]
    assert "thread_ts" not in parent
    assert reply["thread_ts"] == "9.1" and reply["reply_broadcast"] is True
