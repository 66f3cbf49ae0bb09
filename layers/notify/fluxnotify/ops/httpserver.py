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
Reading a request off the stream is ops/httpwire.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from fluxnotify.ops.httpwire import MAX_HEAD, BadRequest, keep_alive, linger, parse_head, read_body, read_head

logger = logging.getLogger(__name__)

BACKLOG = 1024  # Python's default of 5 made p99 0.9 s at 32 clients
_REASONS = {status.value: status.phrase for status in HTTPStatus}


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


Request = tuple[str, str, dict[str, str], bytes]  # method, target, headers, body
App = Callable[[str, str, dict[str, str], bytes], Answer]
BatchApp = Callable[[list[Request]], list[Answer]]
Route = Callable[[str, str, dict[str, str], bytes, str], Answer]  # ... and the client's address


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
                await linger(reader, writer)
            except asyncio.CancelledError:
                pass  # stopping: a cancelled connection ends quietly (no task error at shutdown)
            self.connections -= 1
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; return whether the connection stays open."""
        method, head = "GET", None
        try:
            async with asyncio.timeout(self.read_timeout):
                head = await read_head(reader)
                if head is None:
                    return False  # closed between requests
                method, target, version, headers = parse_head(head)
                body = await read_body(reader, writer, headers, self.max_body)
        except TimeoutError:
            # The reader's private buffer (not in the stubs): nothing of a next request came.
            if head is None and not reader._buffer:  # type: ignore[attr-defined]  # noqa: SLF001 - idle keep-alive: just close
                return False
            await self._write(writer, method, error_answer(408, "request not received in time"), close=True)
            return False
        except BadRequest as err:
            await self._write(writer, method, error_answer(err.status, str(err)), close=True)
            return False
        stays = keep_alive(version, headers) and len(body) <= self.max_body
        route = self.routes.get(target.split("?", 1)[0])
        if route is not None:
            peer = (writer.get_extra_info("peername") or ("",))[0]
            answer = await self._loop.run_in_executor(None, _guarded, route, method, target, headers, body, peer)
        else:
            answer = await self._call(method, target, headers, body)
        await self._write(writer, method, answer, close=not stays)
        return stays

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
        assert self.batch_app is not None  # only a server with a batch_app batches
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
        lines = [f"HTTP/1.1 {answer.status} {_REASONS.get(answer.status, '')}"]
        lines += [f"{name}: {value}" for name, value in answer.headers.items()]
        lines.append(f"Content-Length: {len(payload)}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        writer.write(head if method == "HEAD" else head + payload)
        if writer.transport.get_write_buffer_size():  # not all sent at once: wait, within limits
            async with asyncio.timeout(self.read_timeout):  # a client that never reads
                await writer.drain()


def _guarded(route: Route, *args) -> Answer:
    try:
        return route(*args)
    except Exception:
        logger.exception("request handling failed")
        return error_answer(500, "internal error")
