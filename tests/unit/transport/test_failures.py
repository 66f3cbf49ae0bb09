"""Delivery failures in user terms, with no secret in them (issue 24.10): a generic webhook's
non-2xx answer, connection errors naming host, port and what happened, real servers on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from fixtures.tls_fixtures import https_sink

from fluxnotify import providers
from fluxnotify.config.options import ProviderConfig
from fluxnotify.model.event import parse_event
from fluxnotify.transport.failures import describe, mask, request_secrets
from fluxnotify.transport.http import DeliveryError, Request, Transport
from httpsink import HttpSink

HOOK_SECRET = "B0456/S3cr3tH00kPath"
SLACK_LIKE_PATH = f"/services/T0123/{HOOK_SECRET}"
EVENT = parse_event(b'{"involvedObject": {"kind": "Kustomization", "name": "apps", "namespace": "flux-system"},'
                    b' "severity": "info", "timestamp": "2024-01-01T00:00:00Z", "message": "ok",'
                    b' "reason": "ReconciliationSucceeded", "reportingController": "kustomize-controller"}')


@pytest.fixture
def sink():
    with HttpSink() as server:
        yield server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deliver_generic(url: str, **options) -> DeliveryError:
    config = ProviderConfig(namespace="ns", name="hook", uid="u1", type="generic", address=url, **options)
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(EVENT, config, Transport())
    return caught.value


def test_a_generic_webhook_500_in_user_terms(sink):
    sink.respond(500, "database is down\n  try later")
    err = deliver_generic(sink.url + SLACK_LIKE_PATH)
    assert str(err) == f"POST {sink.url}/… answered 500 Internal Server Error: database is down try later"
    assert "postMessage failed" not in str(err) and "request failed" not in str(err)
    assert err.retryable is True and err.status == 500


def test_an_echoed_secret_path_query_and_token_are_masked(sink):
    """A server that echoes the request back: the Slack-like path, the query token and the
    Authorization header never reach the message."""
    sink.handler = lambda r: (403, {}, f"denied {r.path} auth={r.header('Authorization')}".encode())
    err = deliver_generic(f"{sink.url}{SLACK_LIKE_PATH}?key=QuerySecret99",
                          headers={"Authorization": "Bearer ghp_T0kenValue42"})
    text = str(err)
    assert text.startswith(f"POST {sink.url}/… answered 403 Forbidden: denied *****")
    for secret in (HOOK_SECRET, "S3cr3tH00kPath", "QuerySecret99", "ghp_T0kenValue42", "services/T0123"):
        assert secret not in text


def test_connection_refused_names_host_and_port():
    port = closed_port()
    err = deliver_generic(f"http://127.0.0.1:{port}{SLACK_LIKE_PATH}")
    assert str(err) == f"POST http://127.0.0.1:{port}/…: connection refused by 127.0.0.1:{port} — is the service running?"
    assert "Errno" not in str(err) and "NewConnectionError" not in str(err) and HOOK_SECRET not in str(err)
    assert err.retryable is True


def test_no_answer_in_time_names_the_timeout(sink):
    sink.handler = lambda r: (time.sleep(0.5), (200, {}, b"late"))[1]
    err = deliver_generic(sink.url + SLACK_LIKE_PATH, timeout=0.2)
    host_port = sink.url.removeprefix("http://")
    assert str(err) == f"POST {sink.url}/…: {host_port} did not answer within 0.2 s"
    assert err.retryable is True


def test_a_server_closing_the_connection():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def close_at_once():
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.close()

    thread = threading.Thread(target=close_at_once, daemon=True)
    thread.start()
    try:
        err = deliver_generic(f"http://127.0.0.1:{port}{SLACK_LIKE_PATH}")
    finally:
        thread.join(5)
        listener.close()
    assert str(err) == f"POST http://127.0.0.1:{port}/…: 127.0.0.1:{port} closed the connection without answering"


def test_an_untrusted_certificate_says_so(tmp_path):
    with https_sink(tmp_path) as server:
        err = deliver_generic(server.url + SLACK_LIKE_PATH)
    host_port = server.url.removeprefix("https://")
    assert str(err).startswith(f"POST {server.url}/…: the TLS certificate of {host_port} is not trusted "
                               "(CERTIFICATE_VERIFY_FAILED: ")
    assert err.retryable is False and HOOK_SECRET not in str(err)


def test_an_unresolvable_name_is_said_in_words():
    err = OSError("x")
    err.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert describe(err, "https://hooks.example.invalid/x", 15) == (
        "cannot resolve the host name 'hooks.example.invalid' — is it spelt right?")


def test_request_secrets_cover_path_segments_query_values_and_credential_headers():
    secrets = request_secrets("https://u:pw1234@h/services/T0123/B0456/XyZ123?token=abcd&x=1",
                              {"Authorization": "Bearer t0ken-value", "Content-Type": "application/json"})
    text = "path /services/T0123/B0456/XyZ123 seg XyZ123 token abcd bearer t0ken-value pw1234 application/json"
    assert mask(text, secrets) == "path ***** seg ***** token ***** bearer ***** ***** application/json"


def test_a_request_without_secrets_masks_nothing():
    assert request_secrets("http://h", {"Content-Type": "text/plain"}) == ["http://h"]  # the URL itself only
    assert mask("plain answer", request_secrets("http://h", {})) == "plain answer"
    assert Request("POST", "http://h").url == "http://h"
