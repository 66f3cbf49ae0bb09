"""alertmanager against a real Prometheus Alertmanager (spec §5.19): plain, Basic auth, TLS.

Install the server with `bash .ci/install-alertmanager.sh`. Each run starts its own
Alertmanager on 127.0.0.1 (free ports, no clustering, a temporary storage path) and stops
it by its process id afterwards.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
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
from fluxnotify.delivery.plan import Context
from fluxnotify.delivery.planner import Planner
from fluxnotify.model.manifests import load_yaml
from fluxnotify.transport.http import DeliveryError, Transport
from helpers import dispatch

BINARY = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
pytestmark = pytest.mark.skipif(
    not os.access(BINARY, os.X_OK),
    reason="prometheus-alertmanager is not installed (run: bash .ci/install-alertmanager.sh)",
)

AM_CONFIG = """\
route:
  receiver: "null"
receivers:
  - name: "null"
"""
USER, PASSWORD = "flux", "correct horse battery staple"


@dataclass
class Server:
    base: str  # scheme://127.0.0.1:port
    ssl_context: ssl.SSLContext | None = None
    auth: str | None = None  # Authorization header for our own queries

    @property
    def alerts_url(self) -> str:
        return self.base + "/api/v2/alerts"

    def get_alerts(self) -> list[dict]:
        request = urllib.request.Request(self.alerts_url)
        if self.auth:
            request.add_header("Authorization", self.auth)
        with urllib.request.urlopen(request, timeout=5, context=self.ssl_context) as answer:
            return json.loads(answer.read())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(tmp: Path, web_config: str | None, scheme: str, ssl_context=None, auth=None):
    """Start Alertmanager; yield the Server once /-/ready answers; stop it by its pid."""
    (tmp / "am.yml").write_text(AM_CONFIG)
    port = free_port()
    args = [
        BINARY,
        f"--config.file={tmp / 'am.yml'}",
        f"--storage.path={tmp / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    if web_config is not None:
        (tmp / "web.yml").write_text(web_config)
        args.append(f"--web.config.file={tmp / 'web.yml'}")
    log = open(tmp / "am.log", "wb")  # noqa: SIM115 - closed in teardown
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(f"{scheme}://127.0.0.1:{port}", ssl_context, auth)
    try:
        _wait_ready(server, process, tmp / "am.log")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_ready(server: Server, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"alertmanager exited with {process.returncode}:\n{log.read_text()}")
        request = urllib.request.Request(server.base + "/-/ready")
        if server.auth:
            request.add_header("Authorization", server.auth)
        try:
            with urllib.request.urlopen(request, timeout=1, context=server.ssl_context) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"alertmanager did not become ready:\n{log.read_text()}")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash: the `bcrypt` module when installed, else htpasswd (apache2-utils)."""
    try:
        import bcrypt
    except ImportError:
        htpasswd = shutil.which("htpasswd")
        if htpasswd is None:
            pytest.skip(
                "neither the bcrypt module nor htpasswd is available (run .ci/install-alertmanager.sh)"
            )
        line = subprocess.run(
            [htpasswd, "-nbB", "-C", "4", "x", password], check=True, capture_output=True, text=True
        ).stdout.strip()
        return line.split(":", 1)[1]
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def make_tls(tmp: Path) -> tuple[str, Path, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1/localhost signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fluxnotify test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    cert_path, key_path = tmp / "server.crt", tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca.public_bytes(pem).decode(), cert_path, key_path


# --- servers -------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    yield from start(tmp_path_factory.mktemp("am-plain"), None, "http")


@pytest.fixture(scope="module")
def with_basic_auth(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("am-basic")
    web = f"basic_auth_users:\n  {USER}: '{bcrypt_hash(PASSWORD)}'\n"
    yield from start(tmp, web, "http", auth=basic(USER, PASSWORD))


@pytest.fixture(scope="module")
def with_tls(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("am-tls")
    ca, cert, key = make_tls(tmp)
    web = f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
    context = ssl.create_default_context(cadata=ca)
    for server in start(tmp, web, "https", ssl_context=context):
        server.ca = ca  # type: ignore[attr-defined]
        yield server


def find_alert(server: Server, **labels: str) -> dict:
    """The alert whose labels include these (polling: the API is eventually consistent)."""
    deadline = time.monotonic() + 5
    while True:
        for alert in server.get_alerts():
            if all(alert["labels"].get(k) == v for k, v in labels.items()):
                return alert
        if time.monotonic() > deadline:
            pytest.fail(f"no alert with labels {labels} in {server.get_alerts()}")
        time.sleep(0.1)


# --- (1) plain -----------------------------------------------------------------


def test_plain_delivery_is_queryable(plain):
    evt = event(
        "error",
        "health check failed after 30s",
        {"revision": "main@sha1:0123456789abcdef0123456789abcdef01234567", "summary": "prod eu-1"},
        reason="HealthCheckFailed",
        timestamp=datetime.datetime.now(datetime.UTC).replace(microsecond=0),
    )
    providers.deliver(evt, config("alertmanager", address=plain.alerts_url), Transport())
    alert = find_alert(plain, alertname="FluxGitRepositoryHealthcheckfailed")
    assert alert["labels"] == {
        "alertname": "FluxGitRepositoryHealthcheckfailed",
        "kind": "GitRepository",
        "name": "webapp",
        "namespace": "gitops-system",
        "reason": "HealthCheckFailed",
        "reportingcontroller": "source-controller",
        "revision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
        "severity": "error",
    }
    assert alert["annotations"] == {"message": "health check failed after 30s", "summary": "prod eu-1"}
    assert alert["status"]["state"] == "active"
    assert alert["startsAt"].startswith(evt.timestamp_text()[:-1])  # same second, AM adds .000Z


def test_plain_delivery_through_the_dispatcher(plain):
    manifests = provider_yaml("alertmanager", name="am", address=plain.alerts_url) + alert_yaml(
        "am", eventMetadata={"cluster": "prod"}
    )
    report = dispatch(manifests, raw_event("info", "stored artifact", reason="ArtifactUpToDate"))
    assert report.delivered == ["gitops-system/am"]
    assert report.dead_letters == [] and report.retries == []
    alert = find_alert(plain, alertname="FluxGitRepositoryArtifactuptodate")
    assert alert["labels"]["cluster"] == "prod"
    assert alert["labels"]["severity"] == "info"


# --- (2) basic auth ------------------------------------------------------------


def test_basic_auth_right_credentials(with_basic_auth):
    c = config("alertmanager", address=with_basic_auth.alerts_url, username=USER, password=PASSWORD)
    providers.deliver(event(reason="BasicAuthOk"), c, Transport())
    assert find_alert(with_basic_auth, alertname="FluxGitRepositoryBasicauthok")


def test_basic_auth_credentials_in_the_address(with_basic_auth):
    address = with_basic_auth.alerts_url.replace("http://", f"http://{USER}:{PASSWORD.replace(' ', '%20')}@")
    providers.deliver(event(reason="UserinfoOk"), config("alertmanager", address=address), Transport())
    assert find_alert(with_basic_auth, alertname="FluxGitRepositoryUserinfook")


def test_basic_auth_from_secret_through_the_dispatcher(with_basic_auth):
    manifests = (
        provider_yaml("alertmanager", name="am", address=with_basic_auth.alerts_url, secretRef={"name": "am"})
        + secret_yaml("am", username=USER, password=PASSWORD)
        + alert_yaml("am")
    )
    report = dispatch(manifests, raw_event("error", "boom", reason="DispatchedWithAuth"))
    assert report.delivered == ["gitops-system/am"], report.dead_letters
    assert find_alert(with_basic_auth, alertname="FluxGitRepositoryDispatchedwithauth")


def test_basic_auth_wrong_credentials_fail_permanently(with_basic_auth):
    c = config("alertmanager", address=with_basic_auth.alerts_url, username=USER, password="wrong")
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(reason="Rejected"), c, Transport())
    assert caught.value.status == 401
    assert caught.value.retryable is False
    assert str(caught.value).startswith(("POST https://127.0.0.1:", "POST http://127.0.0.1:"))
    assert " answered 401 Unauthorized" in str(caught.value)
    assert "wrong" not in str(caught.value)


def test_basic_auth_wrong_credentials_go_to_the_dead_letters(with_basic_auth):
    manifests = (
        provider_yaml("alertmanager", name="am", address=with_basic_auth.alerts_url, secretRef={"name": "am"})
        + secret_yaml("am", username=USER, password="not-the-password")
        + alert_yaml("am")
    )
    report = dispatch(manifests, raw_event("error", "boom", reason="Rejected"))
    assert report.delivered == [] and report.retries == []
    (letter,) = report.dead_letters
    assert "answered 401 Unauthorized" in letter["error"]
    assert "not-the-password" not in json.dumps(letter)


# --- (3) TLS -------------------------------------------------------------------


def tls_manifests(server: Server, ca: str | None) -> str:
    spec = {"address": server.alerts_url}
    text = ""
    if ca is not None:
        spec["certSecretRef"] = {"name": "am-ca"}
        text = secret_yaml("am-ca", **{"ca.crt": ca})
    return provider_yaml("alertmanager", name="am", **spec) + text + alert_yaml("am")


def prepared_config(manifests: str, raw: dict):
    from fluxnotify.model.event import event_from_data

    objects = load_yaml(manifests)
    secrets = {o.metadata.key: o.data for o in objects if o.kind == "Secret"}
    provider = next(o for o in objects if o.kind == "Provider")
    alert = next(o for o in objects if o.kind == "Alert")
    planner = Planner(lambda ns, n: provider, lambda ns, n: secrets.get(f"{ns}/{n}"))
    return planner.plan_one(event_from_data(raw), alert, provider, Context())


def test_tls_with_ca_from_cert_secret_ref(with_tls):
    prepared = prepared_config(tls_manifests(with_tls, with_tls.ca), raw_event(reason="TlsOk"))
    assert prepared.config.tls is not None and prepared.config.tls.ca == with_tls.ca
    providers.deliver(prepared.event, prepared.config, Transport())
    assert find_alert(with_tls, alertname="FluxGitRepositoryTlsok")


def test_tls_through_the_dispatcher(with_tls):
    report = dispatch(tls_manifests(with_tls, with_tls.ca), raw_event(reason="TlsDispatched"))
    assert report.delivered == ["gitops-system/am"], report.dead_letters
    assert find_alert(with_tls, alertname="FluxGitRepositoryTlsdispatched")


def test_tls_without_the_ca_fails_verification_permanently(with_tls):
    c = config("alertmanager", address=with_tls.alerts_url)
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(reason="Untrusted"), c, Transport())
    assert caught.value.retryable is False
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert str(caught.value).startswith(("POST https://127.0.0.1:", "POST http://127.0.0.1:"))
    report = dispatch(tls_manifests(with_tls, None), raw_event(reason="Untrusted"))
    assert report.retries == []
    (letter,) = report.dead_letters
    assert "CERTIFICATE_VERIFY_FAILED" in letter["error"]
