"""Reading one request off a stream (ops/httpwire.py), fed byte by byte as a client sends them;
the server around it is tests/unit/ops/test_httpserver.py."""

from __future__ import annotations

import asyncio

import pytest

from fluxnotify.ops.httpwire import MAX_HEAD, BadRequest, keep_alive, parse_head, read_body, read_head


class Writer:
    def __init__(self):
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    async def drain(self) -> None:
        pass


def _head(data: bytes, limit: int = MAX_HEAD) -> bytes | None:
    return asyncio.run(_on_stream(data, limit, read_head))


def _body(data: bytes, headers: dict[str, str], max_body: int = 100, writer: Writer | None = None) -> bytes:
    return asyncio.run(_on_stream(data, MAX_HEAD, read_body, writer or Writer(), headers, max_body))


async def _on_stream(data: bytes, limit: int, read, *args):
    reader = asyncio.StreamReader(limit=limit)  # inside the loop that reads it
    reader.feed_data(data)
    reader.feed_eof()
    return await read(reader, *args)


def test_head_skips_leading_empty_lines_and_folds_repeated_headers():
    head = _head(b"\r\nPOST /hook HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\nHost: h\r\n\r\nbody")
    assert head is not None
    method, target, version, headers = parse_head(head)
    assert (method, target, version) == ("POST", "/hook", "HTTP/1.1")
    assert headers == {"x-a": "1, 2", "host": "h"}


@pytest.mark.parametrize("head, message", [
    (b"GET /\r\n\r\n", "malformed request line"),
    (b"GET / HTTP/2\r\n\r\n", "malformed request line"),
    (b"GET / HTTP/1.1\r\n folded: x\r\n\r\n", "malformed header line"),
    (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting Content-Length"),
])  # fmt: skip
def test_malformed_heads_are_400(head, message):
    with pytest.raises(BadRequest, match=message) as caught:
        parse_head(head)
    assert caught.value.status == 400


def test_a_closed_stream_is_no_request_and_a_cut_head_or_a_huge_one_is_refused():
    assert _head(b"") is None
    with pytest.raises(BadRequest, match="truncated"):
        _head(b"GET / HTTP/1.1\r\nHost")
    with pytest.raises(BadRequest) as caught:
        _head(b"GET / HTTP/1.1\r\nX: " + b"a" * 200 + b"\r\n\r\n", limit=64)
    assert caught.value.status == 431


def test_bodies_by_length_and_chunked_are_read_up_to_one_byte_over_the_limit():
    assert _body(b"hello, rest", {"content-length": "5"}) == b"hello"
    assert _body(b"x" * 500, {"content-length": "500"}, max_body=100) == b"x" * 101
    chunked = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    assert _body(chunked, {"transfer-encoding": "chunked"}) == b"hello world"
    with pytest.raises(BadRequest) as caught:
        _body(chunked, {"transfer-encoding": "chunked"}, max_body=5)
    assert caught.value.status == 413


@pytest.mark.parametrize("data, headers, message", [
    (b"abc", {"content-length": "10"}, "request body truncated: 3 of 10 bytes"),
    (b"", {"content-length": "-1"}, "invalid Content-Length"),
    (b"", {"transfer-encoding": "gzip"}, "transfer coding 'gzip' is not supported"),
    (b"", {"transfer-encoding": "chunked", "content-length": "1"}, "both Transfer-Encoding and Content-Length"),
    (b"zz\r\n", {"transfer-encoding": "chunked"}, "malformed chunk size"),
    (b"3\r\nabcXX", {"transfer-encoding": "chunked"}, "malformed chunk"),
    (b"3\r\nab", {"transfer-encoding": "chunked"}, "chunked request body truncated"),
])  # fmt: skip
def test_bad_bodies_are_400_naming_the_problem(data, headers, message):
    with pytest.raises(BadRequest, match=message) as caught:
        _body(data, headers)
    assert caught.value.status == 400


def test_expect_100_continue_is_answered_before_the_body():
    writer = Writer()
    assert _body(b"ok", {"content-length": "2", "expect": "100-continue"}, writer=writer) == b"ok"
    assert writer.written == b"HTTP/1.1 100 Continue\r\n\r\n"
    quiet = Writer()
    _body(b"ok", {"content-length": "2"}, writer=quiet)
    assert quiet.written == b""


def test_keep_alive_follows_the_version_and_the_connection_header():
    assert keep_alive("HTTP/1.1", {}) and not keep_alive("HTTP/1.1", {"connection": "Close"})
    assert not keep_alive("HTTP/1.0", {}) and keep_alive("HTTP/1.0", {"connection": "keep-alive"})
