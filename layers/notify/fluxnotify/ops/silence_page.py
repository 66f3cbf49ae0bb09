"""The status page's silences section (ops/statuspage.py): the active silences, each with an
Expire button — a form POST (``id``, ``csrf``) to ``/status/expire-silence`` (``/expire-silence``
with --status-addr) carrying the page's CSRF token, like Replay's; then back to the page."""

from __future__ import annotations

import hmac
import json
import logging
import time
from html import escape
from typing import Any
from urllib.parse import parse_qs

from fluxnotify.ops.httpserver import Answer, error_answer
from fluxnotify.state.silences import SilenceError, SilenceStore, SqliteSilences, expired
from fluxnotify.state.status import iso

logger = logging.getLogger(__name__)

MAX_FORM = 4096


def path(replay_path: str) -> str:
    """The form's path, next to the page's replay path."""
    return replay_path.replace("replay", "expire-silence")


def with_section(html: str, db: Any, csrf: str, action: str) -> str:
    """The page with the section at its end."""
    return html.replace("</body>", section(SqliteSilences(db), csrf, action) + "</body>")


def answer(method: str, body: bytes, db: Any, csrf: str, page: str) -> Answer:
    if method != "POST":
        return Answer(405, json.dumps({"error": f"method {method} not allowed", "status": 405}),
                      {"Content-Type": "application/json", "Allow": "POST"})
    return expire_form(SqliteSilences(db), body, csrf, page)


def section(store: SilenceStore, csrf: str, action: str, now: float | None = None) -> str:
    now = time.time() if now is None else now
    try:
        active = sorted((s for s in store.load() if s.active(now)), key=lambda s: s.ends_at)
    except Exception as err:  # noqa: BLE001 — the rest of the page still shows
        return f'<h2>Silences</h2><p class="error">cannot read the silences: {escape(str(err)[:300])}</p>'
    rows = "".join(
        f'<tr data-silence="{escape(s.id)}"><td class=nw>{escape(s.id)}</td><td>{escape(s.describe())}</td>'
        f"<td class=nw>{escape(iso(s.ends_at) or '')}</td><td>{escape(s.created_by or '–')}</td>"
        f"<td>{escape(s.comment)}</td>"
        f'<td><form method="post" action="{escape(action)}"><input type="hidden" name="id" value="{escape(s.id)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<button type="submit" id="expire-{escape(s.id)}">Expire</button></form></td></tr>'
        for s in active)
    empty = '<tr><td class="empty" colspan="6">no active silence (fluxnotify silence add)</td></tr>'
    head = "".join(f"<th>{h}</th>" for h in ("Id", "Matches", "Until", "By", "Comment", ""))
    return (f"<h2>Silences ({len(active)} active)</h2>"
            f'<table id="silences"><thead><tr>{head}</tr></thead><tbody>{rows or empty}</tbody></table>')


def expire_form(store: SilenceStore, body: bytes, csrf: str, page: str) -> Answer:
    """POST ``id`` and ``csrf``: end the silence now, then back to the page."""
    if len(body) > MAX_FORM:
        return error_answer(413, "invalid form length")
    form = parse_qs(body.decode("utf-8", "replace"))
    token, silence_id = form.get("csrf", [""])[0], form.get("id", [""])[0]
    if not hmac.compare_digest(token.encode(), csrf.encode()):
        return error_answer(403, "missing or wrong CSRF token")
    if not silence_id:
        return error_answer(400, "field id: the silence to expire is missing")
    try:
        store.change(lambda current: expired(current, silence_id, time.time()))
    except SilenceError as err:
        return error_answer(404, str(err))
    logger.info("silence expired from the status page", extra={"silence": silence_id})
    return Answer(303, "", {"Location": page})
