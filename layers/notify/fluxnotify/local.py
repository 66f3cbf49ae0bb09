"""The embedded local stack behind `fluxnotify serve`.

The same Receiver and Dispatcher as on Lambda, with a durable SQLite queue (and
dead-letter queue and dedup table in the same file) instead of SQS/DynamoDB, and
the YAML config store instead of SSM/Secrets Manager:

    HTTP :9292 → Receiver → SQLite "events" → worker threads → Dispatcher → providers
                                                   └── failures → SQLite "dead"

Messages are deleted only after the dispatcher handled them, so a crash (even
kill -9) loses nothing: after a restart they become visible again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .dedup import NoDedup, SqliteDedup
from .dispatcher import Dispatcher
from .queue.sqlite import SqliteDatabase, SqliteQueue
from .receiver import Receiver
from .store.files import FileStore

logger = logging.getLogger(__name__)

VISIBILITY_TIMEOUT = float(os.environ.get("FLUXNOTIFY_VISIBILITY_TIMEOUT", "90"))  # > the longest delivery
MAX_RECEIVES = 5  # like the template's maxReceiveCount: then the message is dead-lettered


class LocalStack:
    def __init__(
        self,
        config_paths: list[str],
        *,
        host: str = "127.0.0.1",
        port: int = 9292,
        database: str = "fluxnotify.db",
        workers: int = 4,
        rate_limit_interval: float | None = None,
        token: str | None = None,
        dispatcher_options: dict | None = None,
    ):
        self.db = SqliteDatabase(database)
        self.queue = SqliteQueue(self.db, "events")
        self.dead = SqliteQueue(self.db, "dead")
        interval = rate_limit_interval
        if interval is None:
            interval = float(os.environ.get("RATE_LIMIT_INTERVAL", "300"))
        dedup = SqliteDedup(self.db, interval) if interval > 0 else NoDedup()
        self.store = FileStore.from_paths(config_paths)
        self.receiver = Receiver(self.queue, dedup, token=lambda: token)
        self.dispatcher = Dispatcher(self.store, self.queue, self.dead, **(dispatcher_options or {}))
        self.server = ThreadingHTTPServer((host, port), _handler_for(self.receiver))
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"dispatch-{i}", daemon=True) for i in range(workers)
        ]

    def start(self) -> LocalStack:
        # This process owns the file: messages claimed by a previous (crashed) run are due now.
        self.queue.release_claimed()
        for thread in self._threads:
            thread.start()
        threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.server.shutdown()
        self.server.server_close()
        with self.db.changed:
            self.db.changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        while not self._stopping.is_set():
            messages = self.queue.receive(max_messages=10, visibility_timeout=VISIBILITY_TIMEOUT)
            for message in messages:
                self._process(message)
            if not messages:
                next_in = self.queue.next_visible_in()
                self.queue.wait(0.5 if next_in is None else min(0.5, max(next_in, 0.005)))

    def _process(self, message) -> None:
        if message.receive_count > MAX_RECEIVES:
            letter = {"raw": message.body, "error": f"received {message.receive_count - 1} times without "
                      "being handled", "reason": "max receives exceeded"}
            self.dead.send(json.dumps(letter))
            self.queue.delete(message.id)
            return
        try:
            self.dispatcher.handle(message.body)
        except Exception:
            # The follow-up could not be written: leave the message to reappear later.
            logger.exception("message handling failed; it will be retried", extra={"message_id": message.id})
            return
        self.queue.delete(message.id)


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fluxnotify"
        # Headers and body are two writes: without TCP_NODELAY each answer waits ~40 ms
        # for the peer's delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, *args) -> None:
            pass

        def _handle(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0:
                self._send(400, json.dumps({"error": "invalid Content-Length", "status": 400}), {})
                return
            # Read at most one byte past the limit: enough to refuse, never unbounded.
            body = self.rfile.read(min(length, receiver.max_body + 1))
            if length > len(body):
                self.close_connection = True
            response = receiver.handle(self.command, self.path, dict(self.headers.items()), body)
            self._send(response.status, response.body, response.headers)

        def _send(self, status: int, body: str, headers: dict[str, str]) -> None:
            payload = body.encode("utf-8")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _handle

    return Handler


class PrintingSink:
    """A tiny HTTP endpoint that prints what providers send it (the quick start's 'chat')."""

    def __init__(self, host: str, port: int, out=None):
        import sys

        stream = out or sys.stdout

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    shown = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
                except ValueError:
                    shown = body.decode("utf-8", errors="replace")
                stream.write(f"\n=== notification received: {self.command} {self.path}\n{shown}\n")
                stream.flush()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True

    def start(self) -> PrintingSink:
        threading.Thread(target=self.server.serve_forever, name="sink", daemon=True).start()
        return self

