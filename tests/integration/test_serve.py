"""`fluxnotify serve` as a real subprocess: POST an event, see it delivered.

How fast is measured by bench/e2e.py, not here: a shared machine makes timed tests flaky.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FLUXNOTIFY = [sys.executable, "-m", "fluxnotify.ops.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manifests(sink_url: str) -> str:
    return f"""
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: webhook, namespace: flux-system}}
spec: {{type: generic, address: "{sink_url}/flux", secretRef: {{name: hdr}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: hdr, namespace: flux-system}}
stringData:
  headers: |
    X-Team: platform
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: all, namespace: flux-system}}
spec:
  providerRef: {{name: webhook}}
  eventSources: [{{kind: Kustomization, name: "*"}}, {{kind: HelmRelease, name: "*", namespace: monitoring}}]
"""


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def start(config: Path, db: Path, port: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "notify"), "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [*FLUXNOTIFY, "serve", "--config", str(config), "--db", str(db), "--port", str(port), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise AssertionError(process.stderr.read().decode())
            time.sleep(0.05)
    process.kill()
    raise AssertionError("fluxnotify serve did not start")


@pytest.fixture
def config(tmp_path, sink):
    path = tmp_path / "flux.yaml"
    path.write_text(manifests(sink.url))
    return path


def test_posted_event_is_delivered(tmp_path, config, sink):
    port = free_port()
    process = start(config, tmp_path / "q.db", port)
    try:
        body = (ROOT / "events" / "bodies" / "helmrelease-install-failed.json").read_bytes()
        status, answer = post(f"http://127.0.0.1:{port}/", body)
        assert status == 202 and answer["status"] == "queued"
        received = sink.wait_for(1, timeout=30.0)
        assert len(received) == 1, "not delivered"
        delivered = received[0]
        assert delivered.path == "/flux"
        assert delivered.header("X-Team") == "platform"
        assert delivered.header("Gotk-Component") == "helm-controller"
        sent = delivered.json()
        assert sent["severity"] == "error"
        # The emitter's token is used for dedup at the door, never forwarded.
        assert sent["metadata"] == {"revision": "65.1.0"}
        status, answer = post(f"http://127.0.0.1:{port}/", body)
        assert status == 429
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


def test_bad_config_file_fails_fast_with_the_file_named(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Provider\napiVersion: notification.toolkit.fluxcd.io/v1beta3\nmetadata: {name: x}\nspec: {}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "notify")}
    result = subprocess.run([*FLUXNOTIFY, "serve", "--config", str(broken), "--db", str(tmp_path / "q.db"),
                             "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert str(broken) in result.stderr
    assert "spec.type" in result.stderr


def test_token_protected_stack_refuses_requests_without_it(tmp_path, config, sink):
    port = free_port()
    process = start(config, tmp_path / "q.db", port, "--token", "local-token-123")
    try:
        body = (ROOT / "events" / "bodies" / "kustomization-reconciled.json").read_bytes()
        status, answer = post(f"http://127.0.0.1:{port}/", body)
        assert status == 401 and "token" in answer["error"]
        status, _ = post(f"http://127.0.0.1:{port}/local-token-123", body)
        assert status == 202
        assert len(sink.wait_for(1, timeout=2)) == 1
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
