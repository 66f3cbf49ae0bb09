"""Reading one HTTP/1.1 request off an asyncio stream, for ops/httpserver.py: the head and
its headers, a body by Content-Length or chunked (within a limit), keep-alive, 100-continue,
and the lingering close. What is malformed raises ``BadRequest`` with its status."""

from __future__ import annotations

import asyncio
import re

MAX_HEAD = 64 * 1024
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 method token
LINGER = 1.0
MAX_LINGER_BYTES = 1024 * 1024
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}")


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


async def read_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str],
                    max_body: int) -> bytes:
    """At most ``max_body`` + 1 bytes of the body (enough for the app to answer 413)."""
    coding = headers.get("transfer-encoding")
    length = headers.get("content-length")
    if coding is not None:
        if coding.strip().lower() != "chunked":
            raise BadRequest(400, f"transfer coding {coding!r} is not supported: send chunked or a Content-Length")
        if length is not None:
            raise BadRequest(400, "a request must not have both Transfer-Encoding and Content-Length")
        await _continue(writer, headers)
        return await _read_chunked(reader, max_body + 1)
    if length is None:
        return b""
    size = _content_length(length)
    await _continue(writer, headers)
    try:
        return await reader.readexactly(min(size, max_body + 1))
    except asyncio.IncompleteReadError as err:
        raise BadRequest(400, f"request body truncated: {len(err.partial)} of {size} bytes") from None


async def linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then drop what the client still sends for a moment: closing a socket with
    unread input sends a reset, which can destroy the answer before the client reads it."""
    try:
        if writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()
        async with asyncio.timeout(LINGER):
            discarded = 0
            while discarded < MAX_LINGER_BYTES and (data := await reader.read(65536)):
                discarded += len(data)
    except (OSError, TimeoutError, RuntimeError):
        pass


async def read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if err.partial.strip():
            raise BadRequest(400, "request head truncated") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, f"request head larger than {MAX_HEAD} bytes") from None
    return head.lstrip(b"\r\n")  # RFC 9112 §2.2: ignore empty lines before a request


def parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise BadRequest(400, "malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or line[0] in " \t":
            raise BadRequest(400, "malformed header line")
        key, value = name.lower(), value.strip(" \t")
        if key == "content-length" and key in headers and headers[key] != value:
            raise BadRequest(400, "conflicting Content-Length headers")
        headers[key] = value if key not in headers or key == "content-length" else f"{headers[key]}, {value}"
    return parts[0], parts[1], parts[2], headers


def _content_length(text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise BadRequest(400, f"invalid Content-Length {text!r}")
    return int(text)


def keep_alive(version: str, headers: dict[str, str]) -> bool:
    connection = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


async def _continue(writer: asyncio.StreamWriter, headers: dict[str, str]) -> None:
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()


async def _read_chunked(reader: asyncio.StreamReader, limit: int) -> bytes:
    body = bytearray()
    try:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size_text = size_line.split(b";")[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_text):
                raise BadRequest(400, "malformed chunk size")
            size = int(size_text, 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers: ignored
                    pass
                return bytes(body)
            if len(body) + size > limit:
                raise BadRequest(413, f"request body larger than {limit - 1} bytes")
            body += await reader.readexactly(size)
            if await reader.readexactly(2) != b"\r\n":
                raise BadRequest(400, "malformed chunk")
    except asyncio.IncompleteReadError:
        raise BadRequest(400, "chunked request body truncated") from None
    except asyncio.LimitOverrunError:
        raise BadRequest(400, "malformed chunk") from None
