"""The local stack (`fluxnotify serve`) knows the git family: a Gitea pull request comment is
created by the first event and updated by the next, through the embedded queue."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fixtures.git.forge_fixtures import CommentHost, manifests, raw_event

ROOT = Path(__file__).resolve().parents[2]


def serve(config: Path, db: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "notify"), "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "fluxnotify.ops.cli", "serve", "--config", str(config), "--db", str(db),
               "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            assert process.poll() is None, process.stderr.read().decode()
            time.sleep(0.05)
    process.kill()
    raise AssertionError("fluxnotify serve did not start")


def post(port: int, event: dict) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", data=json.dumps(event).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status


def test_comment_is_created_then_updated_by_the_local_stack(tmp_path, sink):
    host = CommentHost(sink, "gitea")
    config = tmp_path / "flux.yaml"
    config.write_text(manifests("giteapullrequestcomment", f"{sink.url}/owner/repo"))
    process, port = serve(config, tmp_path / "q.db")
    try:
        assert post(port, raw_event()) == 202
        assert len(sink.wait_for(4, timeout=10)) == 4
        failed = raw_event("error", "HealthCheckFailed")
        failed["message"] = "health check failed"
        assert post(port, failed) == 202
        assert len(sink.wait_for(8, timeout=10)) == 8
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    [comment] = host.comments
    assert [method for method, _ in host.calls()] == ["GET", "GET", "GET", "POST", "GET", "GET", "GET", "PATCH"]
    assert host.calls()[-1][1] == f"/api/v1/repos/owner/repo/issues/comments/{comment['id']}"
    assert "health check failed" in comment["body"]
