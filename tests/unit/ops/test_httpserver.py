"""The local door (ops/httpserver.py + LocalStack) spoken to over raw sockets: issue 13.7 and 13.8.

Every answer is JSON with a 4xx for bad input (405 for other methods), never a 5xx, an HTML
page or a dropped connection; per-request read timeout; a bound on open connections;
chunked bodies decoded; conflicting Content-Length and truncated uploads are 400.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from fluxnotify.ops.local import LocalStack
from fluxnotify.settings import Settings

EVENT = json.dumps({
    "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"},
    "severity": "info", "timestamp": "2026-11-25T10:00:00Z", "message": "applied", "reason": "Ok",
    "reportingController": "kustomize-controller",
}).encode()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("door")
    config = root / "flux.yaml"
    config.write_text("apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\n"
                      "metadata: {name: p, namespace: flux-system}\nspec: {type: generic, address: http://127.0.0.1:9/}\n")
    stack = LocalStack([str(config)], port=0, database=str(root / "q.db"), workers=0, settings=Settings(rate_limit_interval=0),
                       read_timeout=0.5, max_connections=4).start()
    yield stack
    stack.stop()


def connect(stack) -> socket.socket:
    return socket.create_connection(("127.0.0.1", stack.server.server_address[1]), timeout=5)


def exchange(stack, data: bytes, half_close: bool = False) -> list[tuple[int, dict, bytes]]:
    """Send raw bytes; read until the server closes; return every (status, headers, body)."""
    with connect(stack) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return parse_answers(received)


def parse_answers(data: bytes) -> list[tuple[int, dict, bytes]]:
    answers = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", 0))
        answers.append((int(lines[0].split()[1]), headers, rest[:length]))
        data = rest[length:]
    return answers


def post(body: bytes, *headers: str, method: str = "POST", close: bool = True) -> bytes:
    lines = [f"{method} / HTTP/1.1", "Host: x", *headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def only(answers) -> tuple[int, dict]:
    (status, headers, body), = answers
    assert headers["content-type"] == "application/json"
    payload = json.loads(body) if body else {}
    return status, payload


def test_plain_post_is_queued(stack):
    status, body = only(exchange(stack, post(EVENT, f"Content-Length: {len(EVENT)}")))
    assert status == 202 and body["status"] == "queued"


def test_chunked_body_is_decoded_and_queued(stack):
    before = stack.queue.count()
    half = len(EVENT) // 2
    chunks = b"%x\r\n%s\r\n%x;ext=1\r\n%s\r\n0\r\nX-Trailer: y\r\n\r\n" % (half, EVENT[:half], len(EVENT) - half, EVENT[half:])
    status, body = only(exchange(stack, post(chunks, "Transfer-Encoding: chunked")))
    assert status == 202
    assert stack.queue.count() == before + 1
    assert json.loads(stack.queue.all()[-1].body)["event"]["message"] == "applied"


@pytest.mark.parametrize("request_bytes, status", [
    (post(b"zz\r\n{}\r\n0\r\n\r\n", "Transfer-Encoding: chunked"), 400),
    (post(b"-5\r\n", "Transfer-Encoding: chunked"), 400),
    (post(EVENT, "Transfer-Encoding: gzip"), 400),
    (post(EVENT, "Transfer-Encoding: chunked", f"Content-Length: {len(EVENT)}"), 400),
    (post(EVENT, f"Content-Length: {len(EVENT)}", "Content-Length: 3"), 400),
    (post(EVENT, "Content-Length: +12"), 400),
    (post(EVENT, "Content-Length: 1e3"), 400),
    (b"POST / HTTP/1.1\r\nHost: x\r\n folded: value\r\n\r\n", 400),
    (b"POST /\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nX-" + b"a" * 70000 + b"\r\n\r\n", 431),
])
def test_malformed_framing_is_a_json_4xx(stack, request_bytes, status):
    answer_status, body = only(exchange(stack, request_bytes))
    assert answer_status == status and body["status"] == status and body["error"]


def test_truncated_upload_is_400(stack):
    status, body = only(exchange(stack, post(EVENT[:20], f"Content-Length: {len(EVENT)}"), half_close=True))
    assert status == 400 and "truncated" in body["error"]


def test_truncated_chunked_upload_is_400(stack):
    status, _ = only(exchange(stack, post(b"40\r\n{\"a\"", "Transfer-Encoding: chunked"), half_close=True))
    assert status == 400


@pytest.mark.parametrize("method", ["HEAD", "TRACE", "post", "OPTIONS", "PROPFIND", "M-SEARCH"])
def test_other_methods_are_405_json(stack, method):
    (status, headers, body), = exchange(stack, post(EVENT, f"Content-Length: {len(EVENT)}", method=method))
    assert status == 405 and headers["content-type"] == "application/json" and headers["allow"] == "POST"
    if method == "HEAD":
        assert body == b""  # RFC 9110: never a body after HEAD
    else:
        assert json.loads(body)["status"] == 405


@pytest.mark.parametrize("change, field", [
    (b'"applied \\ud800"', None),
    (b'"applied \\udfff tail"', None),
])
def test_lone_surrogate_is_400(stack, change, field):
    body = EVENT.replace(b'"applied"', change)
    status, answer = only(exchange(stack, post(body, f"Content-Length: {len(body)}")))
    assert status == 400 and "surrogate" in answer["error"]


def test_timestamp_before_year_one_in_utc_is_400(stack):
    body = EVENT.replace(b"2026-11-25T10:00:00Z", b"0001-01-01T00:00:00+01:00")
    status, answer = only(exchange(stack, post(body, f"Content-Length: {len(body)}")))
    assert status == 400 and answer["field"] == "timestamp"


def test_expect_100_continue_is_honoured(stack):
    with connect(stack) as sock:
        sock.sendall(post(b"", f"Content-Length: {len(EVENT)}", "Expect: 100-continue"))
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(EVENT)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert parse_answers(data)[0][0] == 202


def test_keep_alive_and_pipelined_requests(stack):
    one = post(EVENT, f"Content-Length: {len(EVENT)}", close=False)
    last = post(EVENT, f"Content-Length: {len(EVENT)}")
    answers = exchange(stack, one + one + last)
    assert [status for status, _, _ in answers] == [202, 202, 202]


def test_a_stalled_request_gets_408_and_an_idle_connection_is_closed(stack):
    with connect(stack) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n{")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status, body = only(parse_answers(data))
    assert status == 408
    with connect(stack) as sock:  # idle: closed without an answer after the timeout
        assert sock.recv(100) == b""


def test_open_connections_are_bounded(stack):
    held = [connect(stack) for _ in range(4)]
    try:
        deadline = time.monotonic() + 5
        while stack.server.connections < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        status, body = only(exchange(stack, post(EVENT, f"Content-Length: {len(EVENT)}")))
        assert status == 503 and "connections" in body["error"]
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while stack.server.connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert only(exchange(stack, post(EVENT, f"Content-Length: {len(EVENT)}")))[0] == 202


def test_body_over_the_limit_is_413_without_reading_it_all(stack):
    size = stack.receiver.max_body + 10
    status, body = only(exchange(stack, post(b"x" * size, f"Content-Length: {size}")))
    assert status == 413


def test_listen_backlog_is_not_pythons_default():
    from fluxnotify.ops import httpserver

    assert httpserver.BACKLOG >= 1024
