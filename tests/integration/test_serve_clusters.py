"""`fluxnotify serve --token T --cluster NAME=TOKEN`: one local stack for several clusters."""

from __future__ import annotations

import signal

import test_serve
from test_serve import ROOT, free_port, post, start

config = test_serve.config  # the fixture: a generic Provider towards the sink


def test_each_cluster_token_is_accepted_and_marks_the_event(tmp_path, config, sink):
    port = free_port()
    process = start(config, tmp_path / "q.db", port, "--token", "plain-token",
                    "--cluster", "prod-eu=eu-token", "--cluster", "staging=st-token")
    try:
        body = (ROOT / "events" / "bodies" / "kustomization-reconciled.json").read_bytes()
        url = f"http://127.0.0.1:{port}"
        assert post(f"{url}/nope", body)[0] == 401
        # The same event from three clusters: three deliveries, none refused as a duplicate.
        for token in ("eu-token", "st-token", "plain-token"):
            assert post(f"{url}/{token}", body)[0] == 202
        assert post(f"{url}/eu-token", body)[0] == 429
        received = sink.wait_for(3, timeout=5)
        clusters = sorted(str(r.json()["metadata"].get("cluster")) for r in received)
        assert clusters == ["None", "prod-eu", "staging"]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


def test_a_malformed_cluster_option_fails_fast(tmp_path, config):
    import os
    import subprocess

    from test_serve import FLUXNOTIFY

    env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "notify")}
    result = subprocess.run([*FLUXNOTIFY, "serve", "--config", str(config), "--db", str(tmp_path / "q.db"),
                             "--port", str(free_port()), "--cluster", "prod-eu"],
                            env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "NAME=TOKEN" in result.stderr
