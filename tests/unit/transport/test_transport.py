"""Transport.send against real local servers (spec §4.2–4.4; DESIGN.md "Delivery and retries")."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import socket
import time
from http import HTTPStatus

import pytest
from fixtures.tls_fixtures import https_sink, pki

from fluxnotify.transport.http import (
    DeliveryError,
    Request,
    Response,
    TLSMaterial,
    Transport,
    check_2xx,
    is_retryable_status,
    parse_retry_after,
    redact_url,
    status_error,
)
from httpsink import HttpSink

SECRET_PATH = "/services/T0001/B0001/SuperSecretHookPath"
SECRET_QUERY = "token=querysecret123"


@pytest.fixture(scope="module")
def _shared_sink():
    with HttpSink() as server:
        yield server


@pytest.fixture
def srv(_shared_sink):
    """One plain-HTTP server for the module (shutdown costs 0.5 s), reset for each test."""
    _shared_sink.requests.clear()
    _shared_sink.script.clear()
    _shared_sink.handler = None
    _shared_sink.default = (200, {}, b"ok")
    yield _shared_sink


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def send(url: str, **kwargs) -> Response:
    return Transport().send(Request("POST", url, {"Content-Type": "application/json"}, b"{}"), **kwargs)


def send_error(url: str, **kwargs) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(url, **kwargs)
    return caught.value


# --- requests and answers ------------------------------------------------------------------------


def test_request_is_sent_exactly_and_answer_returned(srv):
    srv.respond(201, b'{"id":1}', {"X-Answer": "yes"})
    body = '{"text":"h\u00e9 <b>"}'.encode()
    request = Request("PUT", srv.url + "/api/v1/x?a=1&b=%20", {"Content-Type": "application/json",
                                                              "X-Custom": "v", "Authorization": "Bearer t"}, body)
    response = Transport().send(request)
    assert response.status == 201
    assert response.body == b'{"id":1}'
    assert response.text == '{"id":1}'
    assert response.headers["X-Answer"] == "yes"
    [captured] = srv.wait_for(1)
    assert captured.method == "PUT"
    assert captured.path == "/api/v1/x?a=1&b=%20"
    assert captured.body == body
    assert captured.header("Content-Type") == "application/json"
    assert captured.header("X-Custom") == "v"
    assert captured.header("Authorization") == "Bearer t"
    assert captured.header("Content-Length") == str(len(body))


def test_connections_are_reused_across_sends(srv):
    transport = Transport()
    for _ in range(3):
        assert transport.send(Request("POST", srv.url + "/x", {}, b"a")).status == 200
    assert len(srv.wait_for(3)) == 3


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_success(srv, status):
    srv.respond(status, b"")
    check_2xx(send(srv.url + "/hook"))


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 599])
def test_retryable_statuses(srv, status):
    srv.respond(status, "busy")
    with pytest.raises(DeliveryError) as caught:
        check_2xx(send(srv.url + SECRET_PATH))
    err = caught.value
    assert err.retryable is True
    assert err.status == status
    phrase = f" {HTTPStatus(status).phrase}" if status != 599 else ""
    assert str(err) == f"POST {srv.url}/… answered {status}{phrase}: busy"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 413, 422, 501])
def test_permanent_statuses(srv, status):
    srv.respond(status, "no")
    with pytest.raises(DeliveryError) as caught:
        check_2xx(send(srv.url + "/hook"))
    assert caught.value.retryable is False
    assert caught.value.status == status
    assert str(caught.value) == f"POST {srv.url}/… answered {status} {HTTPStatus(status).phrase}: no"


def test_redirect_is_not_followed_and_is_permanent(srv):
    srv.respond(302, b"", {"Location": srv.url + "/elsewhere"})
    response = send(srv.url + "/hook")
    assert response.status == 302
    assert len(srv.wait_for(1)) == 1
    time.sleep(0.05)
    assert len(srv.requests) == 1
    with pytest.raises(DeliveryError) as caught:
        check_2xx(response)
    assert caught.value.retryable is False


@pytest.mark.parametrize(("status", "retryable"), [(100, False), (199, False), (300, False), (499, False),
                                                  (429, True), (500, True), (501, False), (600, True), (0, True)])
def test_is_retryable_status(status, retryable):
    assert is_retryable_status(status) is retryable


def test_retry_after_seconds_on_429_and_503(srv):
    srv.respond(429, "slow down", {"Retry-After": "120"})
    srv.respond(503, "", {"Retry-After": "7"})
    srv.respond(500, "", {"Retry-After": "9"})
    for expected in (120.0, 7.0, None):
        with pytest.raises(DeliveryError) as caught:
            check_2xx(send(srv.url + "/hook"))
        assert caught.value.retry_after == expected
        assert caught.value.retryable is True


def test_retry_after_http_date_from_server(srv):
    when = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60), usegmt=True)
    srv.respond(429, "", {"Retry-After": when})
    with pytest.raises(DeliveryError) as caught:
        check_2xx(send(srv.url + "/hook"))
    assert 55 <= caught.value.retry_after <= 61


def test_status_error_body_is_an_excerpt_on_one_line():
    err = status_error(Response(500, {}, b"x" * 5000))
    assert str(err) == "the server answered 500 Internal Server Error: " + "x" * 300 + "…"
    err = status_error(Response(502, {}, b"<html>\n  <body>bad\n gateway</body>\n</html>\n"))
    assert str(err) == "the server answered 502 Bad Gateway: <html> <body>bad gateway</body> </html>"


def test_wrap_keeps_classification():
    err = status_error(Response(429, {"Retry-After": "3"}, b"b")).wrap("postMessage failed: ")
    assert str(err) == "postMessage failed: the server answered 429 Too Many Requests: b"
    assert (err.retryable, err.status, err.retry_after) == (True, 429, 3.0)


# --- parse_retry_after ---------------------------------------------------------------------------------

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("5", 5.0),
        ("120", 120.0),
        (" 30 ", 30.0),
        ("Tue, 14 Nov 2023 22:14:20 GMT", 60.0),
        ("Tue, 14 Nov 2023 22:13:20 GMT", 0.0),
        ("Tue, 14 Nov 2023 21:00:00 GMT", 0.0),  # a past date is 0
        ("Mon, 01 Jan 2001 00:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-1", None),
        ("1.5", None),
    ],
)
def test_parse_retry_after(value, seconds):
    assert parse_retry_after(value, now=NOW) == seconds


def test_parse_retry_after_non_ascii_digit_is_ignored():
    assert parse_retry_after("\u00b2", now=NOW) is None


# --- transport failures ------------------------------------------------------------------------------


def test_connection_refused_is_retryable_and_hides_the_path():
    port = closed_port()
    err = send_error(f"http://127.0.0.1:{port}{SECRET_PATH}?{SECRET_QUERY}")
    assert err.retryable is True
    assert err.status is None
    text = str(err)
    assert text.startswith(f"POST http://127.0.0.1:{port}/…: ")
    assert "SuperSecretHookPath" not in text and "querysecret123" not in text and "services" not in text


def test_timeout_is_retryable(srv):
    def slow(captured):
        time.sleep(0.6)
        return 200, {}, b"late"
    srv.handler = slow
    started = time.monotonic()
    err = send_error(srv.url + SECRET_PATH, timeout=0.2)
    assert time.monotonic() - started < 0.55
    assert err.retryable is True
    assert "SuperSecretHookPath" not in str(err)


def test_server_closing_the_connection_is_retryable():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        import threading

        def accept_and_close():
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.close()
        thread = threading.Thread(target=accept_and_close, daemon=True)
        thread.start()
        err = send_error(f"http://127.0.0.1:{port}{SECRET_PATH}", timeout=2)
        thread.join(2)
    assert err.retryable is True
    assert "SuperSecretHookPath" not in str(err)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http://bad host/x"])
def test_bad_scheme_or_host_is_permanent(url):
    err = send_error(url)
    assert err.retryable is False


@pytest.mark.parametrize("url", ["http://127.0.0.1:80x/hook", "http://127.0.0.1:99999/hook"])
def test_unusable_port_is_a_permanent_delivery_error(url):
    err = send_error(url)
    assert err.retryable is False


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://hooks.slack.com/services/T/B/X", "https://hooks.slack.com/…"),
        ("https://hooks.slack.com/", "https://hooks.slack.com"),
        ("https://hooks.slack.com", "https://hooks.slack.com"),
        ("https://h?token=x", "https://h/…"),
        ("http://user:pass@h:8080/p", "http://h:8080/…"),
    ],
)
def test_redact_url(url, redacted):
    assert redact_url(url) == redacted


# --- proxies --------------------------------------------------------------------------------------------


def test_explicit_proxy_gets_absolute_uri_and_basic_auth(srv):
    response = send("http://destination.invalid/hook?x=1", proxy=srv.url.replace("http://", "http://us%20er:p%40ss@"))
    assert response.status == 200
    [captured] = srv.wait_for(1)
    assert captured.path == "http://destination.invalid/hook?x=1"
    assert captured.header("Proxy-Authorization") == "Basic " + base64.b64encode(b"us er:p@ss").decode()


def test_environment_proxy_is_used_without_explicit_proxy(srv, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", srv.url)
    monkeypatch.setenv("http_proxy", srv.url)
    assert send("http://destination.invalid/env").status == 200
    [captured] = srv.wait_for(1)
    assert captured.path == "http://destination.invalid/env"
    assert captured.header("Proxy-Authorization") is None


@pytest.mark.parametrize("proxy", ["ftp://proxy:21", "proxy-without-scheme"])
def test_unusable_proxy_is_permanent(proxy):
    err = send_error("http://127.0.0.1:1/x", proxy=proxy)
    assert err.retryable is False
    assert str(err).startswith("unable to parse proxy URL: ")


# --- TLS -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_sink(tmp_path_factory):
    with https_sink(tmp_path_factory.mktemp("tls")) as server:
        yield server


def test_tls_with_provider_ca_succeeds(tls_sink):
    tls_sink.requests.clear()
    response = send(tls_sink.url + "/secure", tls=TLSMaterial(ca=pki()["ca"]))
    assert response.status == 200
    assert tls_sink.url.startswith("https://127.0.0.1:")
    assert tls_sink.wait_for(1)[-1].path == "/secure"


def test_tls_without_ca_fails_verification_permanently(tls_sink):
    err = send_error(tls_sink.url + SECRET_PATH)
    assert err.retryable is False
    assert "SuperSecretHookPath" not in str(err)
    assert "CERTIFICATE_VERIFY_FAILED" in str(err)


def test_tls_with_another_ca_fails_verification_permanently(tls_sink):
    err = send_error(tls_sink.url + "/x", tls=TLSMaterial(ca=pki("other")["ca"]))
    assert err.retryable is False
    assert "CERTIFICATE_VERIFY_FAILED" in str(err)


def test_tls_unparsable_ca_is_permanent():
    err = send_error("https://127.0.0.1:1" + SECRET_PATH, tls=TLSMaterial(ca="garbage"))
    assert err.retryable is False
    assert str(err).endswith("failed to parse CA certificate")
    assert "SuperSecretHookPath" not in str(err)


@pytest.mark.parametrize("status,retryable", [(408, True), (429, True), (500, True), (501, False), (400, False)])
def test_status_classification_follows_design(status, retryable):
    from fluxnotify.transport.http import is_retryable_status

    assert is_retryable_status(status) is retryable


def test_each_urls_pool_and_target_are_looked_up_once(srv):
    transport = Transport()
    url, other = f"{srv.url}/hook/path?{SECRET_QUERY}", f"{srv.url}/other"
    for body in (b"x", b"y", b"z"):
        assert transport.send(Request("POST", url, {}, body)).status == 200
    assert transport.send(Request("POST", other, {}, b"o")).status == 200
    assert {target for _, target in transport._routes.values()} == {f"/hook/path?{SECRET_QUERY}", "/other"}
    assert len({id(pool) for pool, _ in transport._routes.values()}) == 1  # one origin, one pool
    assert [(r.path, r.body) for r in srv.requests] == [
        (f"/hook/path?{SECRET_QUERY}", b"x"), (f"/hook/path?{SECRET_QUERY}", b"y"),
        (f"/hook/path?{SECRET_QUERY}", b"z"), ("/other", b"o")]


def test_a_url_without_an_http_scheme_fails_as_before_the_route_cache(srv):
    with pytest.raises(DeliveryError) as caught:
        Transport().send(Request("POST", "ftp://127.0.0.1/hook", {}, b"x"))
    assert not caught.value.retryable and "ftp" in str(caught.value)
