"""The local status page of `fluxnotify serve --status-addr HOST:PORT` (default 127.0.0.1:9294).

* ``GET /``: one self-contained HTML page (inline CSS, no script, no external asset) that
  reloads itself every few seconds: the status table of `fluxnotify status`, the last 50
  deliveries, the dead letters with a replay button each;
* ``GET /status.json``: the same as `fluxnotify status -o json`;
* ``POST /replay`` (form ``id``, ``csrf``): moves one dead letter back to the events queue
  (ops/replay.py's local replay), then redirects to the page.

The CSRF token is random per server start and only readable by a page of the same origin;
the Host header must name this server (no DNS rebinding). The stdlib server is enough for
this low-traffic page.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
import time
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from fluxnotify.ops.replay import replay_local
from fluxnotify.ops.status import Snapshot, counts_text, last_text, local_snapshot, queue_text
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.status import FAILURES, iso

logger = logging.getLogger(__name__)

DEFAULT_ADDR = "127.0.0.1:9294"
REFRESH_SECONDS = 5
MAX_FORM = 4096
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


class StatusPage:
    def __init__(self, db: SqliteDatabase, host: str = "127.0.0.1", port: int = 9294):
        self.db = db
        self.csrf = secrets.token_urlsafe(32)
        self.server = ThreadingHTTPServer((host, port), _handler_for(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self._hosts = {f"{name}:{self.port}" for name in (host, "127.0.0.1", "localhost", "[::1]")}

    def start(self) -> StatusPage:
        threading.Thread(target=self.server.serve_forever, name="status-page", daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> Snapshot:
        return local_snapshot(self.db)

    def replay(self, message_id: str) -> int:
        report = replay_local(self.db, ids={message_id}, progress=_Quiet())
        logger.info("dead letter replayed from the status page", extra={"message_id": message_id,
                                                                         "moved": report.moved})
        return report.moved

    def host_allowed(self, host: str | None) -> bool:
        return host in self._hosts


class _Quiet:
    def write(self, text: str) -> None:
        pass


def _handler_for(page: StatusPage) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fluxnotify-status"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if not page.host_allowed(self.headers.get("Host")):
                return self._error(421, "unexpected Host header")
            path = self.path.split("?", 1)[0]
            if path == "/":
                self._send(200, render_page(page.snapshot(), page.csrf), "text/html; charset=utf-8")
            elif path == "/status.json":
                self._send(200, json.dumps(page.snapshot().as_dict(), indent=2), "application/json")
            else:
                self._error(404, "not found")

        def do_POST(self) -> None:  # noqa: N802
            if not page.host_allowed(self.headers.get("Host")):
                return self._error(421, "unexpected Host header")
            if self.path != "/replay":
                return self._error(404, "not found")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_FORM:
                self.close_connection = True
                return self._error(400 if length < 0 else 413, "invalid form length")
            form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            token, message_id = form.get("csrf", [""])[0], form.get("id", [""])[0]
            if not hmac.compare_digest(token.encode(), page.csrf.encode()):
                return self._error(403, "missing or wrong CSRF token")
            if not message_id:
                return self._error(400, "field id: the dead letter to replay is missing")
            if not page.replay(message_id):
                return self._error(404, f"no dead letter {message_id}")
            self.send_response(303)
            self.send_header("Location", "/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_PUT(self) -> None:  # noqa: N802
            self._error(405, "method not allowed")

        do_DELETE = do_PATCH = do_PUT

        def _error(self, status: int, message: str) -> None:
            self._send(status, json.dumps({"error": message, "status": status}), "application/json")

        def _send(self, status: int, body: str, content_type: str) -> None:
            payload = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for name, value in _SECURITY_HEADERS.items():
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


def render_page(snapshot: Snapshot, csrf: str, refresh: int = REFRESH_SECONDS) -> str:
    failing = sum(1 for o in snapshot.objects if o.failing)
    queue = snapshot.queue
    cards = [("Queue depth", queue["depth"], False), ("Oldest message", _age(queue["oldestAgeSeconds"]), False),
             ("Dead letters", queue["deadLetters"], bool(queue["deadLetters"])),
             ("Failing", failing, bool(failing))]
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
        f"<h2>Dead letters ({len(snapshot.dead_letters)})</h2>", _letters_table(snapshot.dead_letters, csrf),
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


def _letters_table(letters: list[dict[str, Any]], csrf: str) -> str:
    rows = [
        f'<tr data-id="{escape(letter["id"])}"><td class=nw>{escape(letter.get("failedAt") or "–")}</td>'
        f'<td>{escape(letter["object"])}</td><td>{escape(letter["provider"])}</td>'
        f'<td>{escape(letter["reason"])}</td><td class="error">{escape(letter["error"])}</td>'
        f'<td><form method="post" action="/replay"><input type="hidden" name="id" value="{escape(letter["id"])}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<button type="submit" id="replay-{escape(letter["id"])}">Replay</button></form></td></tr>'
        for letter in letters
    ]
    return _table(["Failed at", "Object", "Provider", "Reason", "Error", ""], rows, "no dead letters", "dead")
