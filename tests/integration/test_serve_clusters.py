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


def post_with(url: str, body: bytes, headers: dict[str, str]) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def test_default_cannot_silence_prod_and_a_signature_names_its_cluster_by_path(tmp_path, config, sink):
    import hashlib
    import hmac
    import json

    port = free_port()
    process = start(config, tmp_path / "q.db", port, "--token", "plain-token", "--cluster", "prod=prod-token")
    try:
        real = json.loads((ROOT / "events" / "bodies" / "kustomization-reconciled.json").read_text())
        key = "kustomize.toolkit.fluxcd.io/revision"
        crafted = {**real, "metadata": {**real["metadata"], key: real["metadata"][key] + "/cluster=prod"}}
        url = f"http://127.0.0.1:{port}"
        assert post(f"{url}/plain-token", json.dumps(crafted).encode())[0] == 202
        assert post(f"{url}/prod-token", json.dumps(real).encode())[0] == 202  # not 429
        signed = json.dumps({**real, "message": "signed"}).encode()
        signature = {"X-Signature": "sha256=" + hmac.new(b"prod-token", signed, hashlib.sha256).hexdigest()}
        assert post_with(f"{url}/", signed, signature) == 401  # without a name: the default token only
        assert post_with(f"{url}/prod", signed, signature) == 202
        received = [r.json() for r in sink.wait_for(3, timeout=5)]
        shown = sorted((str(m["metadata"].get("cluster")), m["metadata"]["revision"][-13:], m["message"][:6])
                       for m in received)
        assert shown == [("None", "/cluster=prod", "Deploy"), ("prod", real["metadata"][key][-13:], "Deploy"),
                         ("prod", real["metadata"][key][-13:], "signed")]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
