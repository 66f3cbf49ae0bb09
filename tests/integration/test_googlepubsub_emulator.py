"""googlepubsub against the Pub/Sub emulator of the Google Cloud SDK (spec §5.27).

The emulator ships with the SDK (`platform/pubsub-emulator`, needs Java); the module starts
it once on 127.0.0.1, creates a topic and a subscription over REST, points the provider at
it with PUBSUB_EMULATOR_HOST (no auth, as with Google's clients) and pulls each message
back. Skipped, with the reason, where the SDK's emulator or Java is absent.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fixtures.incident.incident_helpers import (
    alert_yaml,
    config,
    event,
    provider_yaml,
    raw_event,
    secret_yaml,
)

from fluxnotify import providers
from fluxnotify.transport.http import DeliveryError, Transport
from helpers import dispatch

PROJECT, TOPIC, SUBSCRIPTION = "flux-project", "flux-events", "flux-events-sub"
_ROOTS = ["/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk", "/opt/google-cloud-sdk",
          os.path.expanduser("~/google-cloud-sdk")]


def find_emulator() -> str | None:
    gcloud = shutil.which("gcloud")
    roots = ([str(Path(gcloud).resolve().parents[1])] if gcloud else []) + _ROOTS
    for root in roots:
        for script in glob.glob(f"{root}/platform/pubsub-emulator/bin/cloud-pubsub-emulator"):
            return script
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _call(base: str, method: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/v1/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"{}")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    script = find_emulator()
    if script is None or shutil.which("java") is None:
        reason = "the Google Cloud SDK Pub/Sub emulator (platform/pubsub-emulator) or Java is not installed"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    port = _free_port()
    log = tmp_path_factory.mktemp("pubsub") / "emulator.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([script, "--host=127.0.0.1", f"--port={port}"], stdout=output,
                                   stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, process, log)
        _call(base, "PUT", f"projects/{PROJECT}/topics/{TOPIC}")
        _call(base, "PUT", f"projects/{PROJECT}/subscriptions/{SUBSCRIPTION}",
              {"topic": f"projects/{PROJECT}/topics/{TOPIC}"})
        previous = os.environ.get("PUBSUB_EMULATOR_HOST")
        os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{port}"
        yield base
    finally:
        if "previous" in locals():
            if previous is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = previous
        process.terminate()
        process.wait(timeout=20)


def _wait_ready(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Pub/Sub emulator exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(base, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the Pub/Sub emulator did not come up")


def pull(base: str) -> list[dict]:
    """Every message waiting in the subscription, acknowledged."""
    answer = _call(base, "POST", f"projects/{PROJECT}/subscriptions/{SUBSCRIPTION}:pull", {"maxMessages": 10})
    received = answer.get("receivedMessages", [])
    if received:
        _call(base, "POST", f"projects/{PROJECT}/subscriptions/{SUBSCRIPTION}:acknowledge",
              {"ackIds": [m["ackId"] for m in received]})
    return [m["message"] for m in received]


def test_publish_and_pull_back(emulator):
    evt = event("error", "boom", {"revision": "main@sha1:1"})
    providers.deliver(evt, config("googlepubsub", address=PROJECT, channel=TOPIC, headers={"env": "prod"}), Transport())
    (message,) = pull(emulator)
    assert base64.b64decode(message["data"]).decode() == evt.go_json()
    assert message["attributes"] == {"env": "prod"}
    assert message["messageId"]


def test_dispatch_with_the_docs_secret_shape(emulator):
    key = json.dumps({"type": "service_account", "client_email": "flux@flux-project.iam.gserviceaccount.com",
                      "private_key": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"})
    manifests = (
        provider_yaml("googlepubsub", name="googlepubsub-provider", address=PROJECT, channel=TOPIC,
                      secretRef={"name": "googlepubsub-provider-creds"})
        + secret_yaml("googlepubsub-provider-creds", token=key, headers="attr1-name: attr1-value\n")
        + alert_yaml("googlepubsub-provider")
    )
    report = dispatch(manifests, raw_event("info", "hello", {"revision": "r1"}))
    assert report.delivered == ["gitops-system/googlepubsub-provider"]
    (message,) = pull(emulator)
    body = json.loads(base64.b64decode(message["data"]))
    assert (body["message"], body["metadata"]) == ("hello", {"revision": "r1"})
    assert message["attributes"] == {"attr1-name": "attr1-value"}


def test_missing_topic_is_permanent(emulator):
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), config("googlepubsub", address=PROJECT, channel="no-such-topic"), Transport())
    assert str(caught.value).startswith(
        f"error publishing to GCP Pub/Sub topic projects/{PROJECT}/topics/no-such-topic: "
    )
    assert caught.value.retryable is False and caught.value.status == 404
