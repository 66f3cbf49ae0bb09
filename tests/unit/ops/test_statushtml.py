"""The status page's HTML (issue 24.11): failing rows first, problems counted once, relative
times beside UTC, the cluster, the sections list, the flash line."""

from __future__ import annotations

import re

from fluxnotify.ops.status import Snapshot
from fluxnotify.ops.statushtml import SECTIONS, Flash, ago, problem_count, render_page
from fluxnotify.state.status import ObjectStatus

NOW = 1_800_000_000.0
QUEUE = {"depth": 0, "oldestAgeSeconds": None, "deadLetters": 0}


def objects() -> list[ObjectStatus]:
    return [
        ObjectStatus("Provider", "ns/a-good", "slack", NOW - 30, "delivered", cluster="prod"),
        ObjectStatus("Provider", "ns/b-bad", "generic", NOW - 200, "dead-lettered", "boom", "boom", NOW - 200,
                     cluster="default"),
        ObjectStatus("Alert", "ns/on-bad", "generic", NOW - 200, "dead-lettered", "boom", "boom", provider="ns/b-bad"),
        ObjectStatus("Alert", "ns/on-good", "slack", NOW - 30, "retrying", "503", "503", provider="ns/a-good"),
        ObjectStatus("Alert", "ns/ok", "slack", NOW - 30, "delivered", provider="ns/a-good"),
    ]


def test_a_failing_provider_and_its_alert_are_one_problem():
    # ns/b-bad and its Alert: one; ns/on-good fails while its Provider does not: another.
    assert problem_count(objects()) == 2
    html = render_page(Snapshot(objects(), QUEUE), "t", now=NOW)
    assert re.search(r'class="card bad">Failing<b>2</b>', html)


def test_failing_rows_come_first_then_kind_and_name():
    html = render_page(Snapshot(objects(), QUEUE), "t", now=NOW)
    names = re.findall(r'<tr class="(\w+)" data-kind="(\w+)" data-name="([^"]+)"', html)
    assert names == [("failing", "Provider", "ns/b-bad"), ("failing", "Alert", "ns/on-bad"),
                     ("failing", "Alert", "ns/on-good"), ("ok", "Provider", "ns/a-good"), ("ok", "Alert", "ns/ok")]


def test_times_say_how_long_ago_and_rows_name_their_cluster():
    html = render_page(Snapshot(objects(), QUEUE), "t", now=NOW)
    row = re.search(r'data-name="ns/b-bad".*?</tr>', html).group(0)
    assert "<span class=nw>2027-01-15T07:56:40Z</span><span class=ago>3 min ago</span>" in row and "<td>default</td>" in row
    assert "<td>prod</td>" in re.search(r'data-name="ns/a-good".*?</tr>', html).group(0)
    assert [ago(NOW - s, NOW) for s in (2, 42, 61, 7200, 3 * 86400)] == [
        "just now", "42 s ago", "1 min ago", "2 h ago", "3 d ago"]
    assert ago("2027-01-15T07:59:00Z", NOW) == "1 min ago" and ago("not a time", NOW) == ""


def test_the_page_is_a_list_of_sections_and_shows_a_flash_line():
    assert [title(Snapshot([], QUEUE)) for title, _ in SECTIONS] == [
        "Providers and Alerts", "Last 0 deliveries", "Dead letters (0)"]
    html = render_page(Snapshot([], QUEUE), "t", flash=Flash("Replayed <x>", "ok"), now=NOW)
    assert '<div id="flash" class="flash ok" role="status">Replayed &lt;x&gt;</div>' in html
    assert 'id="flash"' not in render_page(Snapshot([], QUEUE), "t", now=NOW)


def test_replay_all_is_one_csrf_form_per_provider_with_letters():
    letters = [{"id": f"m{i}", "provider": provider, "object": "Kustomization/ns/a", "reason": "permanent failure",
                "error": "HTTP 400", "failedAt": "2027-01-15T07:59:00Z"}
               for i, provider in enumerate(["ns/p", "ns/q", "ns/p"])]
    html = render_page(Snapshot([], {**QUEUE, "deadLetters": 3}, [], letters), "tok", action="/status/replay", now=NOW)
    forms = re.findall(r'<form method="post" action="/status/replay"><input type="hidden" name="provider" '
                       r'value="([^"]+)"><input type="hidden" name="csrf" value="tok">', html)
    assert forms == ["ns/p", "ns/q"]
    assert "Replay all 2 of ns/p" in html and "Replay all 1 of ns/q" in html
