"""The matrix provider against a real Synapse homeserver on 127.0.0.1 (spec §5.17).

Synapse lives in its own virtualenv, installed by ``.ci/install-synapse.sh`` (at
``$SYNAPSE_VENV``, default ``<repo>/.synapse-venv``); without it these tests are skipped.
The fixture generates a config (SQLite, one plain-HTTP client listener on a free loopback
port, no key servers so nothing leaves the machine, relaxed rate limits), starts the
homeserver, registers a user through the shared-secret admin API and creates a room.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fixtures.chat.chat_helpers import alert_yaml, event, provider_yaml, raw_event, secret_yaml

from fluxnotify import providers
from fluxnotify.config.options import ProviderConfig
from fluxnotify.providers.chat import matrix
from fluxnotify.transport.http import DeliveryError, Transport
from helpers import dispatch

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("SYNAPSE_VENV") or ROOT / ".synapse-venv")
PYTHON = VENV / "bin" / "python"
START_TIMEOUT = 60.0
RELAXED = {"per_second": 1000, "burst_count": 1000}


@dataclass
class Homeserver:
    url: str
    token: str
    room: str


def _has_synapse() -> bool:
    return PYTHON.exists() and any((VENV / "lib").glob("python3*/site-packages/synapse/app/homeserver.py"))


pytestmark = pytest.mark.skipif(
    not _has_synapse(),
    reason=f"Synapse is not installed in {VENV}: run `bash .ci/install-synapse.sh` first",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(method: str, url: str, payload: dict | None = None, token: str = "") -> dict:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _write_config(directory: Path, port: int, shared_secret: str) -> Path:
    path = directory / "homeserver.yaml"
    subprocess.run(
        [str(PYTHON), "-m", "synapse.app.homeserver", "--server-name", "localhost",
         "--config-path", str(path), "--data-directory", str(directory / "data"),
         "--generate-config", "--report-stats=no"],
        cwd=directory, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    config = yaml.safe_load(path.read_text())
    config.update(
        {
            "listeners": [
                {
                    "port": port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client"], "compress": False}],
                }
            ],
            "database": {"name": "sqlite3", "args": {"database": str(directory / "data" / "homeserver.db")}},
            "registration_shared_secret": shared_secret,
            "trusted_key_servers": [],  # never reach matrix.org
            "suppress_key_server_warning": True,
            "report_stats": False,
            "enable_metrics": False,
            "url_preview_enabled": False,
            "use_presence": False,
            "rc_message": RELAXED,
            "rc_registration": RELAXED,
            "rc_login": {"address": RELAXED, "account": RELAXED, "failed_attempts": RELAXED},
            "rc_joins": {"local": RELAXED, "remote": RELAXED},
            "rc_room_creation": RELAXED,
        }
    )
    path.write_text(yaml.safe_dump(config))
    return path


def _wait_until_up(process: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"synapse exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            _call("GET", url + "/_matrix/client/versions")
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    pytest.fail(f"synapse did not answer within {START_TIMEOUT:.0f}s:\n{log.read_text()[-3000:]}")


def _register(url: str, shared_secret: str, username: str) -> str:
    """The shared-secret registration flow: nonce, then an HMAC-SHA1 of the fields."""
    nonce = _call("GET", url + "/_synapse/admin/v1/register")["nonce"]
    password = secrets.token_hex(12)
    mac = hmac.new(shared_secret.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), username.encode(), password.encode(), b"notadmin"]))
    answer = _call(
        "POST",
        url + "/_synapse/admin/v1/register",
        {"nonce": nonce, "username": username, "password": password, "admin": False, "mac": mac.hexdigest()},
    )
    return answer["access_token"]


@pytest.fixture(scope="module")
def homeserver(tmp_path_factory) -> Homeserver:
    directory = tmp_path_factory.mktemp("synapse")
    port, shared_secret = _free_port(), secrets.token_hex(16)
    config = _write_config(directory, port, shared_secret)
    log = directory / "stdout.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(PYTHON), "-m", "synapse.app.homeserver", "--config-path", str(config)],
            cwd=directory, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_up(process, url, log)
        token = _register(url, shared_secret, "flux")
        room = _call("POST", url + "/_matrix/client/v3/createRoom", {"name": "flux"}, token)["room_id"]
        yield Homeserver(url, token, room)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _messages(server: Homeserver) -> list[dict]:
    room = urllib.parse.quote(server.room, safe="")
    answer = _call(
        "GET", f"{server.url}/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=100", token=server.token
    )
    return [e for e in answer["chunk"] if e.get("type") == "m.room.message"]


def _config(server: Homeserver, token: str | None = None) -> ProviderConfig:
    return ProviderConfig(
        namespace="gitops-system", name="matrix", uid="u", type="matrix",
        address=server.url, channel=server.room, token=server.token if token is None else token,
    )  # fmt: skip


def test_event_reaches_the_room_once(homeserver):
    flux_event = event(message="synapse says hello", metadata={"revision": "main@sha1:0123"})
    expected_body = "💫 gitrepository/webapp.gitops-system\nsynapse says hello\n- revision: main@sha1:0123\n"
    providers.deliver(flux_event, _config(homeserver), Transport())
    bodies = [m["content"]["body"] for m in _messages(homeserver)]
    assert bodies.count(expected_body) == 1
    [message] = [m for m in _messages(homeserver) if m["content"]["body"] == expected_body]
    assert message["content"]["msgtype"] == "m.text"
    # the sender sees its own transaction id: the SHA-1 of the Go-JSON event
    assert message["unsigned"]["transaction_id"] == matrix.txn_id(flux_event)

    # A retried delivery reuses the txn id: the homeserver does not post it again.
    providers.deliver(flux_event, _config(homeserver), Transport())
    providers.deliver(flux_event, _config(homeserver), Transport())
    bodies = [m["content"]["body"] for m in _messages(homeserver)]
    assert bodies.count(expected_body) == 1


def test_control_without_a_stable_txn_id_the_room_gets_duplicates(homeserver, monkeypatch):
    # Proves the dedup above comes from the txn id, not from Synapse comparing bodies.
    monkeypatch.setattr(matrix, "txn_id", lambda _event: secrets.token_hex(20))
    flux_event = event(message="control message")
    providers.deliver(flux_event, _config(homeserver), Transport())
    providers.deliver(flux_event, _config(homeserver), Transport())
    bodies = [m["content"]["body"] for m in _messages(homeserver)]
    assert bodies.count("💫 gitrepository/webapp.gitops-system\ncontrol message\n") == 2


def test_a_different_event_is_a_new_message(homeserver):
    providers.deliver(event("error", "first failure"), _config(homeserver), Transport())
    providers.deliver(event("error", "second failure"), _config(homeserver), Transport())
    bodies = [m["content"]["body"] for m in _messages(homeserver)]
    assert bodies.count("🚨 gitrepository/webapp.gitops-system\nfirst failure\n") == 1
    assert bodies.count("🚨 gitrepository/webapp.gitops-system\nsecond failure\n") == 1


def test_bad_token_is_a_permanent_failure(homeserver):
    with pytest.raises(DeliveryError) as err:
        providers.deliver(event(message="never"), _config(homeserver, token="syt_not_a_token"), Transport())
    assert err.value.status == 401 and err.value.retryable is False
    assert "syt_not_a_token" not in str(err.value)


def test_delivery_through_the_dispatcher(homeserver):
    manifests = (
        provider_yaml("matrix", address=homeserver.url, channel=homeserver.room, secretRef={"name": "mx"})
        + secret_yaml("mx", token=homeserver.token)
        + alert_yaml("matrix")
    )
    raw = raw_event(message="via the dispatcher", metadata={"revision": "main@sha1:4567"})
    report = dispatch(manifests, raw)
    assert report.delivered == ["gitops-system/matrix"], report.dead_letters
    again = dispatch(manifests, raw)  # e.g. a replayed dead letter: same txn id
    assert again.delivered == ["gitops-system/matrix"]
    bodies = [m["content"]["body"] for m in _messages(homeserver)]
    assert (
        bodies.count(
            "💫 gitrepository/webapp.gitops-system\nvia the dispatcher\n- revision: main@sha1:4567\n"
        )
        == 1
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
