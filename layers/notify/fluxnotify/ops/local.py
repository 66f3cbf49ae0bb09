"""The embedded local stack behind `fluxnotify serve`.

The same Receiver and Dispatcher as on Lambda, with a durable SQLite queue (and
dead-letter queue and dedup table in the same file) instead of SQS/DynamoDB, and
the YAML config store instead of SSM/Secrets Manager:

    HTTP :9292 → Receiver → SQLite "events" → worker threads → Dispatcher → providers
    (main process)                              (dispatcher process) └── failures → SQLite "dead"

Messages are deleted only after the dispatcher handled them, so a crash (even
kill -9) loses nothing: after a restart they become visible again. `GET /healthz`
reports the dispatcher and the store (ops/health.py), `GET /status` is the status page
(ops/statuspage.py, loopback clients only); the HTTP limits are in ops/httpserver.py. One
serve per database file (ops/dblock.py); the configuration is reloaded on SIGHUP and when a
file changes (ops/reload.py).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable

from fluxnotify.ingress.clusters import TokenMap
from fluxnotify.ingress.receiver import HttpResponse, Pending, Receiver
from fluxnotify.ops.backlog import BacklogBound
from fluxnotify.ops.dblock import DatabaseBusy, DatabaseLock, reset_database
from fluxnotify.ops.dispatchproc import DispatcherProcess
from fluxnotify.ops.health import health
from fluxnotify.ops.httpserver import Answer, HttpServer, error_answer
from fluxnotify.ops.reload import LiveConfig, LiveStore, Loaded
from fluxnotify.ops.statuspage import StatusPage
from fluxnotify.queue.checkpoint import Checkpointer
from fluxnotify.queue.sqlite import DatabaseGone, SqliteDatabase, SqliteQueue
from fluxnotify.settings import Settings
from fluxnotify.state.dedup import NoDedup, SqliteDedup

logger = logging.getLogger(__name__)

RECEIVER_LOCK_TIMEOUT = 1.0  # POSTs wait this long for a store locked by another program, then 503


class LocalStack:
    """Receiver HTTP server + dispatcher workers on one SQLite file.

    ``separate_process=True`` (what `fluxnotify serve` uses) runs the dispatcher workers in
    a supervised child process (ops/dispatchproc.py), so deliveries do not compete with the
    receiver for the GIL; the child polls the queue every 10 ms and exits when its parent
    dies. In-process workers (the default) are easier to inspect in tests.
    """

    def __init__(
        self,
        config_paths: list[str],
        *,
        host: str = "127.0.0.1",
        port: int = 9292,
        database: str = "fluxnotify.db",
        workers: int = 4,
        token: str | TokenMap | None = None,
        settings: Settings | None = None,
        separate_process: bool = False,
        read_timeout: float = 10.0,
        max_connections: int = 512,
        status_addr: str | None = None,
        reset_db: bool = False,
        strict: bool = False,
        report: Callable[[str], None] | None = None,
    ):
        # Nothing is touched before the config is read, the ports are ours and the database
        # is locked: a second serve on the same ports or file refuses, the first goes on.
        self.config = LiveConfig(config_paths, strict=strict, report=report)
        if strict and self.config.current.not_ready:
            raise NotReady(self.config.current.not_ready)
        self.server = HttpServer(self._answer, host, port, max_body=0,  # the receiver's, below
                                 read_timeout=read_timeout, max_connections=max_connections,
                                 batch_app=self._answer_batch)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self.lock = DatabaseLock(database)
        try:
            self.status_server = _status_server(status_addr)
            self.lock.acquire()
        except (OSError, ValueError, DatabaseBusy):
            self.server.stop()
            raise
        if reset_db:
            reset_database(database)
        # Polling for the write lock: SQLite's busy handler would sleep 1, 2, 5 … ms on the event
        # loop while the dispatcher process writes for a fraction of a millisecond.
        self.db = SqliteDatabase(database, busy_timeout=RECEIVER_LOCK_TIMEOUT,
                                 autocheckpoint=Checkpointer.FALLBACK_PAGES, poll_lock=True)
        self.db.probe_write()  # read-only or locked: refuse to start rather than 503 every event
        self.checkpointer = Checkpointer(database)
        self.queue = SqliteQueue(self.db, "events")
        self.dead = SqliteQueue(self.db, "dead")
        settings = settings or Settings()
        interval = settings.rate_limit_interval
        dedup = SqliteDedup(self.db, interval) if interval > 0 else NoDedup()
        self.receiver = Receiver(self.queue, dedup, token=lambda: token, max_body=settings.max_body_bytes)
        self.backlog = BacklogBound(self.queue, settings.max_backlog)
        self.server.max_body = self.receiver.max_body
        self.status_page = self._status_page(status_addr, host)
        self.store = LiveStore(self.config.current.objects)
        self.workers = None
        self.dispatcher_process: DispatcherProcess | None = None
        if workers and not separate_process:
            from fluxnotify.ops.workers import DispatchWorkers  # serve's parent never needs it

            self.workers = DispatchWorkers(self.store, self.queue, self.dead, workers, settings)
        elif workers:
            self.dispatcher_process = DispatcherProcess(
                (self.config.current.files, database, workers, settings))
        self.config.on_change = self._config_changed
        self._gone_logged = threading.Event()

    def start(self) -> LocalStack:
        # This process owns the file: messages claimed by a previous (crashed) run are due now.
        self.queue.release_claimed()
        self.checkpointer.start()
        if self.workers is not None:
            self.workers.start()
        if self.dispatcher_process is not None:
            self.dispatcher_process.start()
        self.server.start()
        if self.status_server is not None:
            self.status_server.start()
        self.config.start()
        return self

    def stop(self) -> None:
        self.config.stop()
        self.server.stop()
        if self.status_server is not None:
            self.status_server.stop()
        if self.workers is not None:
            self.workers.stop()
        if self.dispatcher_process is not None:
            self.dispatcher_process.stop()
        self.checkpointer.stop()
        self.lock.release()

    def reload(self) -> None:
        """Read the configuration again soon (SIGHUP); safe in a signal handler."""
        self.config.request()

    def _config_changed(self, loaded: Loaded) -> None:
        self.store.swap(loaded.objects)
        if self.dispatcher_process is not None:
            self.dispatcher_process.send_config(loaded.files)

    def _status_page(self, addr: str | None, host: str):
        """On the receiver's port (default), on its own address, or none (empty addr)."""
        if self.status_server is not None:
            self.status_server.page.db = self.db
            return self.status_server.page
        if addr == "":
            return None
        page = StatusPage(self.db, host, self.server.server_address[1])
        self.server.routes.update(page.routes())
        return page

    def dispatcher_alive(self) -> bool:
        if self.workers is not None:
            return self.workers.alive()
        return self.dispatcher_process is not None and self.dispatcher_process.alive()

    def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        if target.split("?")[0] == "/healthz":
            if method != "GET":
                return Answer(405, json.dumps({"error": f"method {method} not allowed: GET /healthz",
                                               "status": 405}), {"Content-Type": "application/json", "Allow": "GET"})
            status, report = health(self.db, self.dispatcher_alive)
            return Answer(status, json.dumps(report), {"Content-Type": "application/json"})
        try:
            self.db.check_file()
        except DatabaseGone as err:
            return self._store_gone(err)
        answer = self.receiver.handle(method, target, headers, body)
        return Answer(answer.status, answer.body, answer.headers)

    def _answer_batch(self, requests: list) -> list[Answer]:
        """POSTs that arrived together: each is checked and serialised first, then the events to
        queue are written in one transaction (group commit; each in its own savepoint), so the
        database is locked only for the writes, not while JSON is parsed.

        A 202 is only true once the commit is: when it fails, every 202 of the batch becomes 503.
        """
        try:
            self.db.check_file()
        except DatabaseGone as err:
            return [self._store_gone(err) for _ in requests]
        prepared = [self._prepare(*request) for request in requests]
        if not any(isinstance(item, Pending) for item in prepared):
            return [self._finish(item) for item in prepared]
        try:
            with self.db.transaction():
                answers = [self._finish(item) for item in prepared]
        except sqlite3.Error as err:
            if not isinstance(err, DatabaseGone):
                logger.error("could not queue %d event(s): %s", len(requests), err)
            gone = isinstance(err, DatabaseGone)
            return [self._store_gone(err) if gone else error_answer(503, "the event could not be queued; retry later")
                    for _ in requests]
        self.backlog.added(sum(answer.status == 202 for answer in answers))
        return answers

    def _prepare(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer | HttpResponse | Pending:
        if target.split("?")[0] == "/healthz":
            return self._answer(method, target, headers, body)
        prepared = self.receiver.prepare(method, target, headers, body)
        if isinstance(prepared, Pending) and self.backlog.full():
            return self.backlog.refusal()  # checked last: a bad request still learns what is wrong
        return prepared

    def _finish(self, prepared: Answer | HttpResponse | Pending) -> Answer:
        if isinstance(prepared, Answer):
            return prepared
        answer = self.receiver.commit(prepared)
        return Answer(answer.status, answer.body, answer.headers)

    def _store_gone(self, err: Exception) -> Answer:
        if not self._gone_logged.is_set():
            self._gone_logged.set()
            logger.error("%s; refusing events with 503 until serve is restarted", err)
        return error_answer(503, "the local queue's database file is gone; events are refused until restart")


class NotReady(ValueError):
    """--strict: the configuration has objects that are not Ready."""

    def __init__(self, conditions: list):
        super().__init__(f"{len(conditions)} object(s) not Ready: refusing to start (--strict)")
        self.conditions = conditions


def _status_server(addr: str | None):
    """The status page on its own HOST:PORT (--status-addr), else None."""
    if not addr:
        return None
    from fluxnotify.ops.statuspage import StatusServer, parse_addr

    try:
        return StatusServer(None, *parse_addr(addr))
    except OSError as err:
        raise ValueError(f"--status-addr {addr}: cannot listen: {err.strerror or err}") from err


class PrintingSink:
    """A tiny HTTP endpoint that prints what providers send it (the quick start's 'chat')."""

    def __init__(self, host: str, port: int, out=None):
        import sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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

