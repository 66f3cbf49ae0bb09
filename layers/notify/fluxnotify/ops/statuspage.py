"""The local status page of `fluxnotify serve`.

By default it lives on the receiver's own port and answers only loopback clients (so two
stacks never fight over a page port, and a receiver open to the network does not show it):

* ``GET /status``: one self-contained HTML page (inline CSS, no script, no external asset)
  that reloads itself every few seconds: the status table of `fluxnotify status`, the last 50
  deliveries, the dead letters with a replay button each;
* ``GET /status.json``: the same as `fluxnotify status -o json`;
* ``POST /status/replay`` (form ``id``, ``csrf``): moves one dead letter back to the events
  queue (ops/replay.py's local replay), then redirects to the page.

``--status-addr HOST:PORT`` serves it on a separate address instead (``/``, ``/status.json``,
``POST /replay``), to any client that can reach it. The CSRF token is random per server start
and only readable by a page of the same origin; the Host header must name this server (no
DNS rebinding).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import secrets
import threading
import time
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from fluxnotify.ops.httpserver import Answer, Route, error_answer
from fluxnotify.ops.replay import replay_local
from fluxnotify.ops.status import Snapshot, counts_text, last_text, local_snapshot, queue_text
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.status import FAILURES, iso

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 5
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
        self.port = port
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.origin = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
        self.url = self.origin + page_path
        self._hosts = {f"{name}:{port}" for name in (host, f"[{host}]", "127.0.0.1", "localhost", "[::1]")}

    def routes(self) -> dict[str, Route]:
        """The paths to mount on the receiver's server (ops/httpserver.py)."""
        return dict.fromkeys((self.page_path, JSON_PATH, self.replay_path), self.answer)

    def snapshot(self) -> Snapshot:
        return local_snapshot(self.db)

    def replay(self, message_id: str) -> int:
        report = replay_local(self.db, ids={message_id}, progress=_Quiet())
        logger.info("dead letter replayed from the status page", extra={"message_id": message_id,
                                                                         "moved": report.moved})
        return report.moved

    def host_allowed(self, host: str | None) -> bool:
        return host in self._hosts

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes, peer: str) -> Answer:
        if self.loopback_only and not is_loopback(peer):
            return _secured(error_answer(403, "the status page answers only on this machine (loopback)"))
        if not self.host_allowed(headers.get("host")):
            return _secured(error_answer(421, "unexpected Host header"))
        path = target.split("?", 1)[0]
        if method in ("GET", "HEAD") and path == self.page_path:
            html = render_page(self.snapshot(), self.csrf, action=self.replay_path)
            return _secured(Answer(200, html, {"Content-Type": "text/html; charset=utf-8"}))
        if method in ("GET", "HEAD") and path == JSON_PATH:
            return _secured(Answer(200, json.dumps(self.snapshot().as_dict(), indent=2),
                                   {"Content-Type": "application/json"}))
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
        if not hmac.compare_digest(token.encode(), self.csrf.encode()):
            return error_answer(403, "missing or wrong CSRF token")
        if not message_id:
            return error_answer(400, "field id: the dead letter to replay is missing")
        if not self.replay(message_id):
            return error_answer(404, f"no dead letter {message_id}")
        return Answer(303, "", {"Location": self.page_path})


def _secured(answer: Answer) -> Answer:
    answer.headers.update(_SECURITY_HEADERS)
    return answer


class _Quiet:
    def write(self, text: str) -> None:
        pass


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


# --------------------------------------------------------------------------- HTML

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2430;background:#f6f7f9}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.6em 0 .5em}
.meta{color:#667085;margin-bottom:1em}
.cards{display:flex;gap:1em;flex-wrap:wrap}
.card{background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.5em}.card.bad{border-color:#d92d20;color:#b42318}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d9dde3}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #eaecf0;vertical-align:top}
th{background:#eef1f5;font-weight:600}
tr.failing{background:#fef3f2}tr.failing td:first-child{border-left:4px solid #d92d20}
.badge,.nw{white-space:nowrap}
.badge{display:inline-block;padding:0 .5em;border-radius:9px;font-size:.9em;font-weight:600}
.delivered{background:#d1fadf;color:#05603a}.skipped{background:#e0f2fe;color:#075985}
.retrying{background:#fef0c7;color:#93370d}.dead-lettered{background:#fee4e2;color:#b42318}
.error{color:#b42318}.empty{color:#667085;font-style:italic}
button{background:#1d4ed8;color:#fff;border:0;border-radius:4px;padding:.25em .8em;cursor:pointer}
"""


def render_page(snapshot: Snapshot, csrf: str, refresh: int = REFRESH_SECONDS, action: str = "/replay") -> str:
    failing = sum(1 for o in snapshot.objects if o.failing)
    queue = snapshot.queue
    cards = [("Queue depth", queue["depth"], False), ("Oldest message", _age(queue["oldestAgeSeconds"]), False),
             ("Dead letters", queue["deadLetters"], bool(queue["deadLetters"])),
             ("Failing", failing, bool(failing)), ("Open incidents", snapshot.open_incidents or 0, False)]
    return "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{int(refresh)}">',
        "<title>fluxnotify status</title>", f"<style>{_STYLE}</style></head><body>",
        "<h1>fluxnotify — delivery status</h1>",
        f'<div class="meta">{escape(iso(time.time()) or "")} · {escape(queue_text(queue))} · '
        f"refreshes every {int(refresh)} s</div>",
        '<div class="cards">', *(
            f'<div class="card{" bad" if bad else ""}">{escape(label)}<b>{escape(str(value))}</b></div>'
            for label, value, bad in cards), "</div>",
        "<h2>Providers and Alerts</h2>", _objects_table(snapshot),
        f"<h2>Last {len(snapshot.recent)} deliveries</h2>", _recent_table(snapshot.recent),
        f"<h2>Dead letters ({len(snapshot.dead_letters)})</h2>", _letters_table(snapshot.dead_letters, csrf, action),
        "</body></html>",
    ])


def _age(seconds: Any) -> str:
    return "–" if seconds is None else f"{seconds} s"


def _badge(outcome: str) -> str:
    return f'<span class="badge {escape(outcome)}">{escape(outcome or "–")}</span>'


def _table(headers: list[str], rows: list[str], empty: str, table_id: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(rows) or f'<tr><td class="empty" colspan="{len(headers)}">{escape(empty)}</td></tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _objects_table(snapshot: Snapshot) -> str:
    rows = []
    for o in snapshot.objects:
        last = escape(last_text(o))
        rows.append(
            f'<tr class="{"failing" if o.failing else "ok"}" data-kind="{escape(o.kind)}" '
            f'data-name="{escape(o.key)}" data-outcome="{escape(o.last_outcome)}">'
            f"<td>{escape(o.kind)}</td><td class=nw>{escape(o.key)}</td><td>{escape(o.provider_type)}</td>"
            f"<td class=nw>{escape(iso(o.last_at) or '–')}</td><td>{_badge(o.last_outcome)}</td>"
            f"<td>{counts_text(o.last_hour)}</td><td>{counts_text(o.last_day)}</td>"
            f'<td{" class=error" if o.failing else ""}>{last}</td></tr>')
    return _table(["Kind", "Name", "Type", "Last attempt", "Outcome", "1 h ok/skip/fail", "24 h ok/skip/fail",
                   "Last delivered / last error"], rows, "no delivery recorded yet", "objects")


def _recent_table(recent: list[dict[str, Any]]) -> str:
    rows = [
        f'<tr class="{"failing" if r["outcome"] in FAILURES else "ok"}"><td class=nw>{escape(r["at"] or "")}</td>'
        f'<td class=nw>{escape(r["alert"] or "")}</td><td class=nw>{escape(r["provider"] or "")}</td>'
        f'<td>{escape(r["type"] or "")}</td><td>{_badge(r["outcome"] or "")}</td><td>{r["attempt"]}</td>'
        f'<td>{escape(r["object"] or "")}</td><td>{escape(r["reason"] or "")}</td>'
        f'<td>{escape(r["detail"] or "")}</td></tr>'
        for r in recent
    ]
    return _table(["Time", "Alert", "Provider", "Type", "Outcome", "Attempt", "Object", "Reason", "Detail"],
                  rows, "nothing delivered yet", "recent")


def _letters_table(letters: list[dict[str, Any]], csrf: str, action: str) -> str:
    rows = [
        f'<tr data-id="{escape(letter["id"])}"><td class=nw>{escape(letter.get("failedAt") or "–")}</td>'
        f'<td>{escape(letter["object"])}</td><td>{escape(letter["provider"])}</td>'
        f'<td>{escape(letter["reason"])}</td><td class="error">{escape(letter["error"])}</td>'
        f'<td><form method="post" action="{escape(action)}"><input type="hidden" name="id" value="{escape(letter["id"])}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<button type="submit" id="replay-{escape(letter["id"])}">Replay</button></form></td></tr>'
        for letter in letters
    ]
    return _table(["Failed at", "Object", "Provider", "Reason", "Error", ""], rows, "no dead letters", "dead")
