"""nats against a real nats-server (spec §5.30): publish, read back, auth, failures.

Install the server with `bash .ci/install-nats.sh`. The module starts one server on
127.0.0.1 (random port, read from its ports file) with user/password auth, and stops it by
its process id afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
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

BINARY = shutil.which("nats-server") or "/usr/sbin/nats-server"
pytestmark = pytest.mark.skipif(
    not Path(BINARY).exists(), reason="nats-server is not installed (run: bash .ci/install-nats.sh)"
)
USER, PASSWORD = "flux", "n4ts-pa55word"
SUBJECT = "flux.events"


def _nkey_pair() -> tuple[str, str]:
    """(seed, public key) of a fresh NKey user, or ("", "") without the nkeys package."""
    try:
        import nkeys
    except ImportError:
        return "", ""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return seed.decode(), nkeys.from_seed(bytearray(seed)).public_key.decode()


NKEY_SEED, NKEY_PUBLIC = _nkey_pair()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    ports = tmp_path_factory.mktemp("nats-ports")
    users = [f'{{user: "{USER}", password: "{PASSWORD}"}}'] + ([f'{{nkey: "{NKEY_PUBLIC}"}}'] if NKEY_PUBLIC else [])
    conf = ports / "server.conf"
    conf.write_text(f"authorization {{ users = [ {', '.join(users)} ] }}\n")
    process = subprocess.Popen(
        [BINARY, "-c", str(conf), "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", str(ports)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield _wait_for_url(ports, process)
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_url(ports: Path, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("nats-server exited early")
        for path in ports.glob("*.ports"):
            try:
                url = json.loads(path.read_text())["nats"][0]
            except (ValueError, KeyError, IndexError):
                continue
            host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=1):
                return url
        time.sleep(0.05)
    raise RuntimeError("nats-server did not come up")


def cfg(url, **values):
    values.setdefault("channel", SUBJECT)
    return config("nats", address=url, **values)


def publish_and_read(url: str, deliver) -> bytes:
    """Subscribe, run the delivery in a thread, return the first message's data."""
    import nats

    async def scenario() -> bytes:
        client = await nats.connect(url, user=USER, password=PASSWORD)
        try:
            subscription = await client.subscribe(SUBJECT)
            await client.flush()
            await asyncio.to_thread(deliver)
            message = await subscription.next_msg(timeout=10)
            return message.data
        finally:
            await client.close()

    return asyncio.run(scenario())


def test_publishes_the_go_json_of_the_event(server):
    evt = event("error", "boom <b>", {"revision": "main@sha1:1"})
    data = publish_and_read(server, lambda: providers.deliver(evt, cfg(server, username=USER, password=PASSWORD), Transport()))
    assert data.decode() == evt.go_json()
    assert json.loads(data)["involvedObject"]["name"] == "webapp"


def test_credentials_in_the_url_work(server):
    url = server.replace("nats://", f"nats://{USER}:{PASSWORD}@")
    data = publish_and_read(server, lambda: providers.deliver(event(), cfg(url), Transport()))
    assert json.loads(data)["reason"] == "reason"


@pytest.mark.skipif(not NKEY_SEED, reason="the nkeys package is not installed (pip install nkeys)")
def test_nkey_seed_signs_the_nonce(server):
    c = cfg(server, secret={"nkey": NKEY_SEED})
    data = publish_and_read(server, lambda: providers.deliver(event("info", "signed"), c, Transport()))
    assert json.loads(data)["message"] == "signed"


def test_wrong_password_is_permanent_and_not_reported(server):
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(server, username=USER, password="wr0ng-secret"), Transport())
    text = str(caught.value)
    assert text.startswith(f"error publishing event to subject {SUBJECT}: error connecting to server: ")
    assert caught.value.retryable is False
    assert "wr0ng-secret" not in text


def test_closed_port_is_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(f"nats://127.0.0.1:{port}", timeout=2), Transport())
    assert caught.value.retryable is True
    assert "error connecting to server" in str(caught.value)


def test_dispatch_through_the_whole_pipeline(server):
    manifests = (
        provider_yaml("nats", name="nats-provider", address=server, channel=SUBJECT, secretRef={"name": "nats-creds"})
        + secret_yaml("nats-creds", username=USER, password=PASSWORD)
        + alert_yaml("nats-provider")
    )
    reports = []
    data = publish_and_read(server, lambda: reports.append(dispatch(manifests, raw_event("info", "hello", {"revision": "r1"}))))
    assert reports[0].delivered == ["gitops-system/nats-provider"]
    body = json.loads(data)
    assert body["message"] == "hello"
    assert body["metadata"] == {"revision": "r1"}
