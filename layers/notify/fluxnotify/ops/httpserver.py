"""A small HTTP/1.1 server on asyncio for `fluxnotify serve` (the receiver's local door).

Why not http.server: a thread per connection (300 slow clients held 300 threads), a listen
backlog of 5, 501 HTML for unknown methods and Content-Length rules of its own. Here one event
loop reads requests and answers them in its own thread (no hand-off: a thread hop cost more
than the request). POSTs that arrive together are handed to ``batch_app`` as one batch, so
the local stack commits them in one SQLite transaction (group commit). Limits:

- a per-request read timeout (head and body) and the same idle timeout between keep-alive
  requests: a client that stalls gets 408 (or is closed when idle);
- at most ``max_connections`` open connections: the next one gets 503 and is closed;
- ``Transfer-Encoding: chunked`` is decoded (within the body limit); any other transfer
  coding, or one next to a Content-Length, is 400; conflicting Content-Length headers and a
  body shorter than announced are 400; a head over 64 KiB is 431;
- at most ``max_body`` + 1 bytes of a body are read (enough for the app to answer 413);
- every error answer is JSON; HEAD answers carry no body (RFC 9110).

``routes`` (exact paths, e.g. the status page's) are answered off the event loop, in a worker
thread, and also get the client's address (a page may answer only loopback clients).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

logger = logging.getLogger(__name__)

MAX_HEAD = 64 * 1024
BACKLOG = 1024  # Python's default of 5 made p99 0.9 s at 32 clients
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 method token
LINGER = 1.0
MAX_LINGER_BYTES = 1024 * 1024
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,8}")


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


Request = tuple[str, str, dict[str, str], bytes]  # method, target, headers, body
App = Callable[[str, str, dict[str, str], bytes], Answer]
BatchApp = Callable[[list[Request]], list[Answer]]
Route = Callable[[str, str, dict[str, str], bytes, str], Answer]  # ... and the client's address


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def error_answer(status: int, message: str) -> Answer:
    body = json.dumps({"error": message, "status": status})
    return Answer(status, body, {"Content-Type": "application/json"})


class HttpServer:
    """Binds at construction (a busy port raises OSError here); ``start`` serves in a thread."""

    def __init__(self, app: App, host: str, port: int, *, max_body: int, read_timeout: float = 10.0,
                 max_connections: int = 512, backlog: int = BACKLOG, batch_app: BatchApp | None = None,
                 routes: dict[str, Route] | None = None):
        self.app = app
        self.routes = routes or {}
        self.batch_app = batch_app
        self._batch: list[tuple[Request, asyncio.Future]] = []
        self.max_body = max_body
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.connections = 0
        # Bound now (a busy port fails here), listening only from start(): a client that
        # connects early is refused rather than left waiting for a stack not yet ready.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind((host, port))
        except OSError:
            self.socket.close()
            raise
        self.server_address = self.socket.getsockname()[:2]
        self._backlog = backlog
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="receiver", daemon=True)
        self._started = threading.Event()

    def start(self) -> HttpServer:
        self.socket.listen(self._backlog)
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        self.socket.close()

    # Compatibility with socketserver-style callers (tests, bench).
    def shutdown(self) -> None:
        self.stop()

    def server_close(self) -> None:
        self.socket.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._connection, sock=self.socket, backlog=self._backlog, limit=MAX_HEAD))
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.connections > self.max_connections:
                await self._write(writer, "GET", error_answer(503, "too many connections; retry later"), close=True)
                return
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, TimeoutError, asyncio.CancelledError):
            pass
        except Exception:  # a bug here must not leave an unretrieved task error behind
            logger.exception("connection handling failed")
        finally:
            try:
                await _linger(reader, writer)
            except asyncio.CancelledError:
                pass  # stopping: a cancelled connection ends quietly (no task error at shutdown)
            self.connections -= 1
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; return whether the connection stays open."""
        method, head = "GET", None
        try:
            async with asyncio.timeout(self.read_timeout):
                head = await _read_head(reader)
                if head is None:
                    return False  # closed between requests
                method, target, version, headers = _parse_head(head)
                body = await self._read_body(reader, writer, headers)
        except TimeoutError:
            if head is None and not reader._buffer:  # noqa: SLF001 - idle keep-alive: just close
                return False
            await self._write(writer, method, error_answer(408, "request not received in time"), close=True)
            return False
        except BadRequest as err:
            await self._write(writer, method, error_answer(err.status, str(err)), close=True)
            return False
        keep_alive = _keep_alive(version, headers) and len(body) <= self.max_body
        route = self.routes.get(target.split("?", 1)[0])
        if route is not None:
            peer = (writer.get_extra_info("peername") or ("",))[0]
            answer = await self._loop.run_in_executor(None, _guarded, route, method, target, headers, body, peer)
        else:
            answer = await self._call(method, target, headers, body)
        await self._write(writer, method, answer, close=not keep_alive)
        return keep_alive

    async def _read_body(self, reader, writer, headers: dict[str, str]) -> bytes:
        coding = headers.get("transfer-encoding")
        length = headers.get("content-length")
        if coding is not None:
            if coding.strip().lower() != "chunked":
                raise BadRequest(400, f"transfer coding {coding!r} is not supported: send chunked or a Content-Length")
            if length is not None:
                raise BadRequest(400, "a request must not have both Transfer-Encoding and Content-Length")
            await _continue(writer, headers)
            return await _read_chunked(reader, self.max_body + 1)
        if length is None:
            return b""
        size = _content_length(length)
        await _continue(writer, headers)
        try:
            return await reader.readexactly(min(size, self.max_body + 1))
        except asyncio.IncompleteReadError as err:
            raise BadRequest(400, f"request body truncated: {len(err.partial)} of {size} bytes") from None

    async def _call(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        if method == "POST" and self.batch_app is not None:
            future = self._loop.create_future()
            if not self._batch:
                self._loop.call_soon(self._flush)  # after every request read in this loop turn
            self._batch.append(((method, target, headers, body), future))
            return await future
        try:
            return self.app(method, target, headers, body)
        except Exception:
            logger.exception("request handling failed")
            return error_answer(500, "internal error")

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        try:
            answers = self.batch_app([request for request, _ in batch])
        except Exception:
            logger.exception("request handling failed")
            answers = [error_answer(500, "internal error")] * len(batch)
        for (_, future), answer in zip(batch, answers, strict=True):
            if not future.done():
                future.set_result(answer)

    async def _write(self, writer: asyncio.StreamWriter, method: str, answer: Answer, close: bool) -> None:
        payload = answer.body.encode("utf-8")
        try:
            reason = HTTPStatus(answer.status).phrase
        except ValueError:
            reason = ""
        lines = [f"HTTP/1.1 {answer.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in answer.headers.items()]
        lines.append(f"Content-Length: {len(payload)}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        writer.write(head if method == "HEAD" else head + payload)
        async with asyncio.timeout(self.read_timeout):  # a client that never reads
            await writer.drain()


def _guarded(route: Route, *args) -> Answer:
    try:
        return route(*args)
    except Exception:
        logger.exception("request handling failed")
        return error_answer(500, "internal error")


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if err.partial.strip():
            raise BadRequest(400, "request head truncated") from None
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest(431, f"request head larger than {MAX_HEAD} bytes") from None
    return head.lstrip(b"\r\n")  # RFC 9112 §2.2: ignore empty lines before a request


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
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


def _keep_alive(version: str, headers: dict[str, str]) -> bool:
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
