"""The local status page of `fluxnotify serve`.

By default it lives on the receiver's own port and answers only loopback clients (so two
stacks never fight over a page port, and a receiver open to the network does not show it):

* ``GET /status``: one self-contained HTML page (inline CSS, no script, no external asset)
  that reloads itself every few seconds: the status table of `fluxnotify status`, the last 50
  deliveries, the dead letters with a replay button each;
* ``GET /status.json``: the same as `fluxnotify status -o json`;
* ``POST /status/replay`` (form ``id`` or ``provider``, and ``csrf``): moves one dead letter,
  or every letter of one Provider, back to the events queue (ops/replay.py's local replay),
  then redirects to ``/status?replayed=KEY``, where a line says what became of it: queued,
  then delivered or failed again (from the delivery status recorded since the replay).

``--status-addr HOST:PORT`` serves it on a separate address instead (``/``, ``/status.json``,
``POST /replay``), to any client that can reach it. The CSRF token is random per server start
and only readable by a page of the same origin; the Host header must name this server (no
DNS rebinding).
"""

from __future__ import annotations

import hmac
import io
import ipaddress
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote

from fluxnotify.ops import silence_page
from fluxnotify.ops.httpserver import Answer, Route, error_answer
from fluxnotify.ops.replay import replay_local
from fluxnotify.ops.status import Snapshot, local_snapshot
from fluxnotify.ops.statushtml import REFRESH_SECONDS, Flash, render_page
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.status import DELIVERED, FAILURES

logger = logging.getLogger(__name__)

MAX_FORM = 4096
JSON_PATH = "/status.json"
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def parse_addr(addr: str) -> tuple[str, int]:
    """HOST:PORT (HOST may be empty: 127.0.0.1); raises ValueError naming the flag."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--status-addr: {addr!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


class StatusPage:
    """The page's logic, whatever serves it: ``answer`` takes a request, returns an Answer."""

    def __init__(self, db: SqliteDatabase, host: str, port: int, *, page_path: str = "/status",
                 replay_path: str = "/status/replay", loopback_only: bool = True):
        self.db = db
        self.csrf = secrets.token_urlsafe(32)
        self.page_path, self.replay_path, self.loopback_only = page_path, replay_path, loopback_only
        self.expire_path = silence_page.path(replay_path)  # POST: expire a silence
        self.port = port
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.origin = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
        self.url = self.origin + page_path
        self.replays: dict[str, Replay] = {}  # what the flash line reports, newest last
        self._hosts = {f"{name}:{port}" for name in (host, f"[{host}]", "127.0.0.1", "localhost", "[::1]")}

    def routes(self) -> dict[str, Route]:
        """The paths to mount on the receiver's server (ops/httpserver.py)."""
        return dict.fromkeys((self.page_path, JSON_PATH, self.replay_path, self.expire_path), self.answer)

    def snapshot(self) -> Snapshot:
        return local_snapshot(self.db)

    def replay(self, message_id: str) -> int:
        return self._replay(message_id, [letter for letter in self.snapshot().dead_letters
                                         if letter["id"] == message_id])

    def replay_provider(self, provider: str) -> str | None:
        """Every dead letter of one Provider; the key of the replay, None when it had none."""
        letters = [letter for letter in self.snapshot().dead_letters if letter["provider"] == provider]
        key = "all-" + secrets.token_hex(4)
        return key if letters and self._replay(key, letters) else None

    def _replay(self, key: str, letters: list[dict[str, Any]]) -> int:
        at = time.time()
        report = replay_local(self.db, ids={letter["id"] for letter in letters}, progress=io.StringIO())
        logger.info("dead letters replayed from the status page", extra={"replay": key, "moved": report.moved})
        if report.moved:
            self.replays[key] = Replay(at, [(letter["provider"], letter["object"]) for letter in letters])
            while len(self.replays) > 100:
                self.replays.pop(next(iter(self.replays)))
        return report.moved

    def flash(self, key: str) -> Flash:
        """What became of a replay: delivered, failed again, or still waiting."""
        from fluxnotify.state.status_sqlite import SqliteStatus

        replay = self.replays.get(key)
        if replay is None:
            return Flash(f"replay {key}: unknown here (this serve was restarted since?)", "wait")
        status = SqliteStatus(self.db)
        ends = [_end(status.since(replay.at, provider, ref)) for provider, ref in replay.letters]
        delivered = sum(1 for outcome, _ in ends if outcome == DELIVERED)
        failed = [(outcome, detail) for outcome, detail in ends if outcome in FAILURES]
        waiting = len(ends) - delivered - len(failed)
        what = (f"dead letter {key} ({replay.letters[0][1]} → {replay.letters[0][0]})" if len(ends) == 1
                else f"{len(ends)} dead letters of {replay.letters[0][0]}")
        parts = [f"{delivered} delivered"] if delivered else []
        if failed:
            parts.append(f"{len(failed)} failed again ({failed[-1][0]}: {failed[-1][1]})")
        if waiting:
            parts.append(f"{waiting} waiting for the dispatcher")
        tone = "bad" if failed else "wait" if waiting else "ok"
        return Flash(f"Replayed {what}: queued again; " + ", ".join(parts) + ".", tone)

    def host_allowed(self, host: str | None) -> bool:
        return host in self._hosts

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes, peer: str) -> Answer:
        if self.loopback_only and not is_loopback(peer):
            return _secured(error_answer(403, "the status page answers only on this machine (loopback)"))
        if not self.host_allowed(headers.get("host")):
            return _secured(error_answer(421, "unexpected Host header"))
        path, _, query = target.partition("?")
        if method in ("GET", "HEAD") and path == self.page_path:
            replayed = parse_qs(query).get("replayed", [""])[0][:200]
            html = render_page(self.snapshot(), self.csrf, REFRESH_SECONDS, self.replay_path,
                               self.flash(replayed) if replayed else None)
            html = silence_page.with_section(html, self.db, self.csrf, self.expire_path)
            return _secured(Answer(200, html, {"Content-Type": "text/html; charset=utf-8"}))
        if method in ("GET", "HEAD") and path == JSON_PATH:
            return _secured(Answer(200, json.dumps(self.snapshot().as_dict(), indent=2),
                                   {"Content-Type": "application/json"}))
        if path == self.expire_path:
            return _secured(silence_page.answer(method, body, self.db, self.csrf, self.page_path))
        if method == "POST" and path == self.replay_path:
            return _secured(self._replay_form(body))
        if path in (self.page_path, JSON_PATH, self.replay_path):
            allow = "POST" if path == self.replay_path else "GET, HEAD"
            return _secured(Answer(405, json.dumps({"error": f"method {method} not allowed", "status": 405}),
                                   {"Content-Type": "application/json", "Allow": allow}))
        return _secured(error_answer(404, "not found"))

    def _replay_form(self, body: bytes) -> Answer:
        if len(body) > MAX_FORM:
            return error_answer(413, "invalid form length")
        form = parse_qs(body.decode("utf-8", "replace"))
        token, message_id = form.get("csrf", [""])[0], form.get("id", [""])[0]
        provider = form.get("provider", [""])[0]
        if not hmac.compare_digest(token.encode(), self.csrf.encode()):
            return error_answer(403, "missing or wrong CSRF token")
        if provider:
            key = self.replay_provider(provider)
            if key is None:
                return error_answer(404, f"no dead letter of Provider {provider}")
        else:
            if not message_id:
                return error_answer(400, "field id: the dead letter to replay is missing (or field provider)")
            if not self.replay(message_id):
                return error_answer(404, f"no dead letter {message_id}")
            key = message_id
        return Answer(303, "", {"Location": f"{self.page_path}?replayed={quote(key, safe='')}"})


@dataclass
class Replay:
    at: float
    letters: list[tuple[str, str]]  # (provider, Kind/namespace/name) of each letter moved


def _end(rows: list[tuple[str, str]]) -> tuple[str, str]:
    """The end of a replayed letter: delivered if any delivery was, else its last failure."""
    if any(outcome == DELIVERED for outcome, _ in rows):
        return DELIVERED, ""
    failed = [row for row in rows if row[0] in FAILURES]
    return failed[-1] if failed else ("", "")


def _secured(answer: Answer) -> Answer:
    answer.headers.update(_SECURITY_HEADERS)
    return answer


class StatusServer:
    """The page on its own address (``--status-addr``): ``/``, ``/status.json``, ``POST /replay``."""

    def __init__(self, db: SqliteDatabase, host: str = "127.0.0.1", port: int = 0):
        self.server = ThreadingHTTPServer((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self.page = StatusPage(db, host, self.server.server_address[1], page_path="/", replay_path="/replay",
                               loopback_only=False)
        self.port, self.origin, self.url = self.page.port, self.page.origin, self.page.url

    def start(self) -> StatusServer:
        threading.Thread(target=self.server.serve_forever, name="status-page", daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler_for(server: StatusServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fluxnotify-status"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            self._serve(b"")

        def do_POST(self) -> None:  # noqa: N802
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_FORM:
                self.close_connection = True
                return self._send(error_answer(400 if length < 0 else 413, "invalid form length"))
            self._serve(self.rfile.read(length))

        do_PUT = do_DELETE = do_PATCH = do_POST

        def _serve(self, body: bytes) -> None:
            headers = {name.lower(): value for name, value in self.headers.items()}
            self._send(server.page.answer(self.command, self.path, headers, body, self.client_address[0]))

        def _send(self, answer: Answer) -> None:
            payload = answer.body.encode("utf-8")
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
