"""The HTML of the local status page (ops/statuspage.py serves it): one self-contained page,
inline CSS, no script, no external asset.

The page is a list of sections (``SECTIONS``), each a title and a table: Providers and Alerts
(failing rows first), the last deliveries, the dead letters with a Replay button each and one
"Replay all" per Provider. A new section (e.g. the active silences) is one more entry there.
Times are UTC with how long ago beside them; a flash line says what a replay became.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

from fluxnotify.delivery.annotations import cluster_name
from fluxnotify.ops.status import Snapshot, counts_text, last_text, queue_text
from fluxnotify.state.status import FAILURES, ObjectStatus, iso, sort_key

REFRESH_SECONDS = 5

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2430;background:#f6f7f9}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.6em 0 .5em}
.meta{color:#667085;margin-bottom:1em}
.cards{display:flex;gap:1em;flex-wrap:wrap}
.card{background:#fff;border:1px solid #d9dde3;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.5em}.card.bad{border-color:#d92d20;color:#b42318}
.flash{margin:1em 0;padding:.6em 1em;border-radius:6px;border:1px solid #d9dde3;background:#fff}
.flash.ok{border-color:#12b76a;background:#ecfdf3}.flash.bad{border-color:#d92d20;background:#fef3f2}
.flash.wait{border-color:#f79009;background:#fffaeb}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d9dde3}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #eaecf0;vertical-align:top}
th{background:#eef1f5;font-weight:600}
tr.failing{background:#fef3f2}tr.failing td:first-child{border-left:4px solid #d92d20}
td.detail{overflow-wrap:anywhere;word-break:break-word;min-width:16em}
#recent td.detail{min-width:24em}
.badge,.nw{white-space:nowrap}.ago{display:block;color:#667085;font-size:.85em;white-space:nowrap}
.badge{display:inline-block;padding:0 .5em;border-radius:9px;font-size:.9em;font-weight:600}
.delivered{background:#d1fadf;color:#05603a}.skipped{background:#e0f2fe;color:#075985}
.retrying{background:#fef0c7;color:#93370d}.dead-lettered{background:#fee4e2;color:#b42318}
.error{color:#b42318}.empty{color:#667085;font-style:italic}
.replay-all{display:flex;gap:.6em;flex-wrap:wrap;margin:.5em 0}.replay-all form{margin:0}
button{background:#1d4ed8;color:#fff;border:0;border-radius:4px;padding:.25em .8em;cursor:pointer}
"""


@dataclass(frozen=True)
class Page:
    """What every section may need besides the snapshot."""

    csrf: str
    action: str  # where the replay forms post
    now: float


@dataclass(frozen=True)
class Flash:
    text: str
    tone: str  # ok, bad or wait


def render_page(snapshot: Snapshot, csrf: str, refresh: int = REFRESH_SECONDS, action: str = "/replay",
                flash: Flash | None = None, now: float | None = None) -> str:
    page = Page(csrf, action, time.time() if now is None else now)
    queue = snapshot.queue
    problems = problem_count(snapshot.objects)
    cards = [("Queue depth", queue["depth"], False), ("Oldest message", _age(queue["oldestAgeSeconds"]), False),
             ("Dead letters", queue["deadLetters"], bool(queue["deadLetters"])),
             ("Failing", problems, bool(problems)), ("Open incidents", snapshot.open_incidents or 0, False)]
    return "".join([
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="refresh" content="{int(refresh)}">',
        "<title>fluxnotify status</title>", f"<style>{_STYLE}</style></head><body>",
        "<h1>fluxnotify — delivery status</h1>",
        f'<div class="meta">{escape(iso(page.now) or "")} · {escape(queue_text(queue))} · '
        f"refreshes every {int(refresh)} s</div>",
        f'<div id="flash" class="flash {escape(flash.tone)}" role="status">{escape(flash.text)}</div>' if flash else "",
        '<div class="cards">', *(
            f'<div class="card{" bad" if bad else ""}">{escape(label)}<b>{escape(str(value))}</b></div>'
            for label, value, bad in cards), "</div>",
        *(f"<h2>{escape(title(snapshot))}</h2>{body(snapshot, page)}" for title, body in SECTIONS),
        "</body></html>",
    ])


def problem_count(objects: list[ObjectStatus]) -> int:
    """Failing Providers, plus failing Alerts whose Provider is not failing: a broken
    Provider counts once, not again for each of its Alerts."""
    failing = {o.key for o in objects if o.kind == "Provider" and o.failing}
    alerts = [o for o in objects if o.kind == "Alert" and o.failing and o.provider not in failing]
    return len(failing) + len(alerts)


def ago(at: float | str | None, now: float) -> str:
    """"3 min ago" for an epoch or a UTC ISO time; "" when unknown."""
    if isinstance(at, str):
        try:
            at = calendar.timegm(time.strptime(at, "%Y-%m-%dT%H:%M:%SZ"))
        except ValueError:
            return ""
    if at is None:
        return ""
    seconds = max(0, int(now - at))
    for limit, unit, size in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600)):
        if seconds < limit:
            return "just now" if seconds < 5 else f"{seconds // size} {unit} ago"
    return f"{seconds // 86400} d ago"


def _when(at: float | str | None, page: Page) -> str:
    shown = iso(at) if isinstance(at, float | int) else at
    if not shown:
        return "–"
    return f'<span class=nw>{escape(shown)}</span><span class=ago>{escape(ago(at, page.now))}</span>'


def _age(seconds: Any) -> str:
    return "–" if seconds is None else f"{seconds} s"


def _badge(outcome: str) -> str:
    return f'<span class="badge {escape(outcome)}">{escape(outcome or "–")}</span>'


def _cluster(name: str) -> str:
    """The cluster's name; the unnamed cluster (the default token) is "default"."""
    return escape(cluster_name(name) or ("default" if name else "–"))


def _table(headers: list[str], rows: list[str], empty: str, table_id: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(rows) or f'<tr><td class="empty" colspan="{len(headers)}">{escape(empty)}</td></tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _objects_table(snapshot: Snapshot, page: Page) -> str:
    rows = []
    for o in sorted(snapshot.objects, key=lambda o: (not o.failing, sort_key(o))):  # failing first
        rows.append(
            f'<tr class="{"failing" if o.failing else "ok"}" data-kind="{escape(o.kind)}" '
            f'data-name="{escape(o.key)}" data-outcome="{escape(o.last_outcome)}">'
            f"<td>{escape(o.kind)}</td><td class=nw>{escape(o.key)}</td><td>{escape(o.provider_type)}</td>"
            f"<td>{_cluster(o.cluster)}</td><td>{_when(o.last_at, page)}</td><td>{_badge(o.last_outcome)}</td>"
            f"<td>{counts_text(o.last_hour)}</td><td>{counts_text(o.last_day)}</td>"
            f'<td class="detail{" error" if o.failing else ""}">{escape(last_text(o))}</td></tr>')
    return _table(["Kind", "Name", "Type", "Cluster", "Last attempt", "Outcome", "1 h ok/skip/fail",
                   "24 h ok/skip/fail", "Last delivered / last error"], rows, "no delivery recorded yet", "objects")


def _recent_table(snapshot: Snapshot, page: Page) -> str:
    rows = [
        f'<tr class="{"failing" if r["outcome"] in FAILURES else "ok"}"><td>{_when(r.get("epoch") or r["at"], page)}</td>'
        f'<td>{_cluster(r.get("cluster") or "")}</td>'
        f'<td>{_name(r["alert"])} → {_name(r["provider"])} <span class=ago>{escape(r["type"] or "")}</span></td>'
        f'<td>{_badge(r["outcome"] or "")}</td><td>{r["attempt"]}</td>'
        f'<td>{_name(r["object"])} <span class=ago>{escape(r["reason"] or "")}</span></td>'
        f'<td class="detail">{escape(r["detail"] or "")}</td></tr>'
        for r in snapshot.recent
    ]
    return _table(["Time", "Cluster", "Alert → Provider", "Outcome", "Attempt", "Object and reason", "Detail"],
                  rows, "nothing delivered yet", "recent")


def _name(text: str | None) -> str:
    """A namespace/name that may break after its slashes, and nowhere else."""
    return "/<wbr>".join(escape(part) for part in (text or "").split("/"))


def _hidden(page: Page, name: str, value: str) -> str:
    return (f'<input type="hidden" name="{name}" value="{escape(value)}">'
            f'<input type="hidden" name="csrf" value="{escape(page.csrf)}">')


def _letters_table(snapshot: Snapshot, page: Page) -> str:
    letters = snapshot.dead_letters
    per_provider: dict[str, int] = {}
    for letter in letters:
        per_provider[letter["provider"]] = per_provider.get(letter["provider"], 0) + 1
    replay_all = "".join(
        f'<form method="post" action="{escape(page.action)}">{_hidden(page, "provider", provider)}'
        f'<button type="submit" id="replay-all-{escape(provider)}">Replay all {count} of {escape(provider)}'
        "</button></form>"
        for provider, count in sorted(per_provider.items()))
    rows = [
        f'<tr data-id="{escape(letter["id"])}"><td>{_when(letter.get("failedAt"), page)}</td>'
        f'<td>{escape(letter["object"])}</td><td class=nw>{escape(letter["provider"])}</td>'
        f'<td>{escape(letter["reason"])}</td><td class="detail error">{escape(letter["error"])}</td>'
        f'<td><form method="post" action="{escape(page.action)}">{_hidden(page, "id", letter["id"])}'
        f'<button type="submit" id="replay-{escape(letter["id"])}">Replay</button></form></td></tr>'
        for letter in letters
    ]
    table = _table(["Failed at", "Object", "Provider", "Reason", "Error", ""], rows, "no dead letters", "dead")
    return (f'<div class="replay-all">{replay_all}</div>' if replay_all else "") + table


Section = tuple[Callable[[Snapshot], str], Callable[[Snapshot, Page], str]]

# The page, top to bottom: (title, table). Active silences (with an expire button) go here.
SECTIONS: list[Section] = [
    (lambda s: "Providers and Alerts", _objects_table),
    (lambda s: f"Last {len(s.recent)} deliveries", _recent_table),
    (lambda s: f"Dead letters ({len(s.dead_letters)})", _letters_table),
]
