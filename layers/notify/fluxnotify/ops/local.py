"""The embedded local stack behind `fluxnotify serve`.

The same Receiver and Dispatcher as on Lambda, with a durable SQLite queue (and
dead-letter queue and dedup table in the same file) instead of SQS/DynamoDB, and
the YAML config store instead of SSM/Secrets Manager:

    HTTP :9292 → Receiver → SQLite "events" → worker threads → Dispatcher → providers
    (main process)                              (dispatcher process) └── failures → SQLite "dead"

Messages are deleted only after the dispatcher handled them, so a crash (even
kill -9) loses nothing: after a restart they become visible again.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fluxnotify.config.files import FileStore
from fluxnotify.delivery.dispatcher import Dispatcher
from fluxnotify.delivery.status_sqlite import SqliteStatus
from fluxnotify.ingress.dedup import NoDedup, SqliteDedup
from fluxnotify.ingress.receiver import Receiver
from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue

logger = logging.getLogger(__name__)

VISIBILITY_TIMEOUT = float(os.environ.get("FLUXNOTIFY_VISIBILITY_TIMEOUT", "90"))  # > the longest delivery
MAX_RECEIVES = 5  # like the template's maxReceiveCount: then the message is dead-lettered


class LocalStack:
    """Receiver HTTP server + dispatcher workers on one SQLite file.

    ``separate_process=True`` (what `fluxnotify serve` uses) runs the dispatcher workers in
    a child process, so deliveries do not compete with the receiver for the GIL (about
    twice the ingest rate); the child polls the queue every 10 ms and exits when its
    parent dies. In-process workers (the default) are easier to inspect in tests.
    """

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
        separate_process: bool = False,
        status_addr: str = "",
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
        self.server = ThreadingHTTPServer((host, port), _handler_for(self.receiver))
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._worker_args = (config_paths, database, workers, dispatcher_options or {})
        self.workers: DispatchWorkers | None = None
        self._child = None
        if workers and not separate_process:
            self.workers = DispatchWorkers(self.store, self.queue, self.dead, workers, dispatcher_options or {})
        self._separate = separate_process and workers > 0
        self.status_page = _status_page(self.db, status_addr)

    def start(self) -> LocalStack:
        # This process owns the file: messages claimed by a previous (crashed) run are due now.
        self.queue.release_claimed()
        if self.workers is not None:
            self.workers.start()
        if self._separate:
            self._child = _start_child(*self._worker_args)
        threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True).start()
        if self.status_page is not None:
            self.status_page.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.status_page is not None:
            self.status_page.stop()
        if self.workers is not None:
            self.workers.stop()
        if self._child is not None:
            self._child.terminate()
            self._child.join(timeout=5)


class DispatchWorkers:
    """Threads that take messages from the SQLite queue and hand them to the Dispatcher."""

    def __init__(self, store, queue: SqliteQueue, dead: SqliteQueue, count: int, options: dict,
                 idle_poll: float = 0.5):
        self.queue = queue
        self.dead = dead
        self.dispatcher = Dispatcher(store, queue, dead, status=SqliteStatus(queue.db), **options)
        # In-process, a send wakes the workers at once; another process can only poll.
        self.idle_poll = idle_poll
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._work, name=f"dispatch-{i}", daemon=True)
                         for i in range(count)]

    def start(self) -> DispatchWorkers:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self.queue.db.changed:
            self.queue.db.changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        while not self._stopping.is_set():
            messages = self.queue.receive(max_messages=10, visibility_timeout=VISIBILITY_TIMEOUT)
            for message in messages:
                self._process(message)
            if not messages:
                next_in = self.queue.next_visible_in()
                wait = self.idle_poll if next_in is None else min(self.idle_poll, max(next_in, 0.005))
                self.queue.wait(wait)

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


def _status_page(db: SqliteDatabase, addr: str):
    """The status page (ops/statuspage.py) on HOST:PORT, or None when addr is empty."""
    if not addr:
        return None
    from fluxnotify.ops.statuspage import StatusPage, parse_addr

    try:
        return StatusPage(db, *parse_addr(addr))
    except OSError as err:
        raise ValueError(f"--status-addr {addr}: cannot listen: {err.strerror or err}") from err


def _start_child(config_paths: list[str], database: str, workers: int, options: dict):
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    child = context.Process(
        target=_child_main, args=(config_paths, database, workers, options, os.getpid(), ready),
        name="fluxnotify-dispatcher", daemon=True,
    )
    child.start()
    # Deliveries must work once the port answers: wait until the child is up.
    if not ready.wait(timeout=60):
        child.terminate()
        raise RuntimeError("the dispatcher process did not start")
    return child


def _child_main(config_paths, database, workers, options, parent_pid, ready) -> None:
    from fluxnotify.ops.logs import configure_logging

    configure_logging("INFO")
    db = SqliteDatabase(database)
    store = FileStore.from_paths(config_paths)
    pool = DispatchWorkers(store, SqliteQueue(db, "events"), SqliteQueue(db, "dead"), workers, options,
                           idle_poll=0.01).start()
    ready.set()
    while os.getppid() == parent_pid:  # the parent died (even by kill -9): stop too
        time.sleep(0.2)
    pool.stop()


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

