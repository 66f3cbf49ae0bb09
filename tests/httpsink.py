"""A real HTTP server on 127.0.0.1 that records every request and answers from a script.

Used by tests as the far side of every HTTP provider:

    with HttpSink() as sink:
        sink.respond(500)                # next answers, in order; then the default
        sink.default = (200, {}, b"ok")
        ... deliver to sink.url + "/hook" ...
        request = sink.requests[0]       # .method .path .headers .body .json()
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


Answer = tuple[int, dict, bytes]


class HttpSink:
    def __init__(self, tls_context=None):
        self.requests: list[Captured] = []
        self.default: Answer = (200, {}, b"ok")
        self.script: deque[Answer | Callable[[Captured], Answer]] = deque()
        self.handler: Callable[[Captured], Answer] | None = None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK wait

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                captured = Captured(self.command, self.path, dict(self.headers.items()), body)
                status, headers, payload = sink._answer(captured)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls_context is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        # A short poll interval: shutdown() waits for it, once per test that uses a sink.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def respond(self, status: int, body: bytes | str | dict = b"", headers: dict | None = None):
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.script.append((status, headers or {}, body))

    def _answer(self, captured: Captured) -> Answer:
        with self._lock:
            self.requests.append(captured)
            self._arrived.notify_all()
            if self.script:
                answer = self.script.popleft()
            elif self.handler is not None:
                answer = self.handler
            else:
                answer = self.default
        return answer(captured) if callable(answer) else answer

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Captured]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def __enter__(self) -> HttpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
