"""matrix (spec §5.17): PUT with a SHA-1 txn id of the Go-JSON event; TLS honoured, proxy not."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import ssl

import pytest
from fixtures.chat.chat_helpers import (
    RecordingTransport,
    alert_yaml,
    body,
    config,
    encode_one,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
    secret_yaml,
)

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.providers.chat import matrix
from fluxnotify.transport.http import DeliveryError, TLSMaterial, Transport
from helpers import dispatch
from httpsink import HttpSink

HS = "https://matrix.example.org"
ROOM = "!abc:example.org"
# The spec's Go-JSON example event (§1.4).
SPEC_JSON = (
    '{"involvedObject":{"kind":"GitRepository","namespace":"gitops-system","name":"webapp"},'
    '"severity":"info","timestamp":"2022-09-30T06:40:29Z","message":"message","reason":"reason",'
    '"metadata":{"test":"metadata"},"reportingController":"source-controller",'
    '"reportingInstance":"source-controller-xyz"}'
)


def spec_event():
    from fluxnotify.model.event import parse_event

    return parse_event(SPEC_JSON)


def test_txn_id_is_sha1_of_go_json():
    evt = spec_event()
    assert evt.go_json() == SPEC_JSON
    expected = hashlib.sha1(SPEC_JSON.encode()).hexdigest()
    assert matrix.txn_id(evt) == expected
    request = encode_one(evt, config("matrix", address=HS, channel=ROOM, token="tok"))
    assert request.url == f"{HS}/_matrix/client/r0/rooms/{ROOM}/send/m.room.message/{expected}"


def test_txn_id_changes_with_the_event_and_is_stable():
    a, b = event(), event(message="other")
    assert matrix.txn_id(a) == matrix.txn_id(event())
    assert matrix.txn_id(a) != matrix.txn_id(b)
    assert len(matrix.txn_id(a)) == 40 and matrix.txn_id(a) == matrix.txn_id(a).lower()


def test_info_event_without_metadata():
    evt = event()
    request = encode_one(evt, config("matrix", address=HS, channel=ROOM, token="syt_token"))
    assert request.method == "PUT"
    assert request.url == f"{HS}/_matrix/client/r0/rooms/{ROOM}/send/m.room.message/{matrix.txn_id(evt)}"
    assert request.headers == {"Content-Type": "application/json", "Authorization": "Bearer syt_token"}
    assert body(request) == {"body": "💫 gitrepository/webapp.gitops-system\nmessage\n", "msgtype": "m.text"}


def test_error_event_with_metadata_no_token():
    request = encode_one(
        event("error", "failed", {"b": "2", "a": "1"}), config("matrix", address=HS + "/", channel=ROOM)
    )
    assert request.headers["Authorization"] == "Bearer "
    assert request.url.startswith(f"{HS}//_matrix/client/r0/rooms/{ROOM}/send/m.room.message/")
    assert body(request) == {
        "body": "🚨 gitrepository/webapp.gitops-system\nfailed\n- a: 1\n- b: 2\n",
        "msgtype": "m.text",
    }


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("", "invalid Matrix homeserver URL : 'parse \"\": empty url'"),
        (
            "matrix.org",
            "invalid Matrix homeserver URL matrix.org: 'parse \"matrix.org\": invalid URI for request'",
        ),
    ],
)
def test_config_errors(address, error):
    with pytest.raises(ConfigError) as err:
        providers.validate(config("matrix", address=address, channel=ROOM))
    assert str(err.value) == error


def test_render():
    manifests = (
        provider_yaml("matrix", address=HS, channel=ROOM, secretRef={"name": "mx"})
        + secret_yaml("mx", token="syt_abc")
        + provider_yaml("matrix", name="bad", address="bad")
    )
    good, bad = render_yaml(manifests, raw_event(metadata={"test": "metadata"}))
    [delivery] = good["deliveries"]
    assert delivery["method"] == "PUT"
    # the provider's view: metadata stripped of its prefix, then Go-JSON, then SHA-1
    view = event(reason="ReconciliationSucceeded", metadata={"test": "metadata"})
    assert delivery["url"] == f"{HS}/_matrix/client/r0/rooms/{ROOM}/send/m.room.message/{matrix.txn_id(view)}"
    assert delivery["headers"] == {"Content-Type": "application/json", "Authorization": "Bearer syt_abc"}
    assert delivery["body"] == {
        "body": "💫 gitrepository/webapp.gitops-system\nmessage\n- test: metadata\n",
        "msgtype": "m.text",
    }
    assert bad["error"] == "invalid Matrix homeserver URL bad: 'parse \"bad\": invalid URI for request'"


def test_tls_honoured_proxy_ignored():
    transport = RecordingTransport()
    tls = TLSMaterial(ca="ca")
    providers.deliver(
        event(), config("matrix", address=HS, channel=ROOM, proxy="http://p:1", tls=tls), transport
    )
    assert (transport.calls[0]["proxy"], transport.calls[0]["tls"]) == ("", tls)


def test_delivery_to_sink_ignores_a_dead_proxy(sink):
    cfg = config("matrix", address=sink.url, channel=ROOM, token="tk", proxy="http://127.0.0.1:1")
    evt = event()
    providers.deliver(evt, cfg, Transport())
    [captured] = sink.wait_for(1)
    assert captured.method == "PUT"
    assert captured.path == f"/_matrix/client/r0/rooms/{ROOM}/send/m.room.message/{matrix.txn_id(evt)}"
    assert captured.header("Authorization") == "Bearer tk"
    assert captured.json()["msgtype"] == "m.text"


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return context, cert_pem.decode()


def test_delivery_over_https_with_the_provider_ca(tmp_path):
    pytest.importorskip("cryptography")  # shipped with moto in the dev dependencies
    context, ca = _self_signed(tmp_path)
    with HttpSink(tls_context=context) as server:
        providers.deliver(
            event(), config("matrix", address=server.url, channel=ROOM, tls=TLSMaterial(ca=ca)), Transport()
        )
        [captured] = server.wait_for(1)
        assert captured.method == "PUT"
        # without the CA the certificate is not trusted: a permanent failure
        with pytest.raises(DeliveryError) as err:
            providers.deliver(event(), config("matrix", address=server.url, channel=ROOM), Transport())
        assert err.value.retryable is False


def test_dispatch_delivers(sink):
    manifests = provider_yaml("matrix", address=sink.url, channel=ROOM) + alert_yaml("matrix")
    report = dispatch(manifests, raw_event("error", "boom"))
    assert report.delivered == ["gitops-system/matrix"]
    captured = sink.wait_for(1)[0]
    assert captured.method == "PUT"
    assert captured.json()["body"].startswith("🚨 gitrepository/webapp.gitops-system\nboom\n")
