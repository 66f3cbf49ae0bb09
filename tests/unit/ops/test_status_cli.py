"""`fluxnotify status` rendering (colour rules, --watch) and the Delivering condition."""

from __future__ import annotations

import io

from fluxnotify.ops.status import (
    Snapshot,
    delivering,
    render_table,
    status_command,
    use_colour,
    with_delivering,
)
from fluxnotify.ops.statuspage import render_page
from fluxnotify.ops.validate import Condition
from fluxnotify.state.status import ObjectStatus

AT = 1_800_000_000.0


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def snapshot() -> Snapshot:
    good = ObjectStatus("Provider", "ns/good", "slack", AT, "delivered", delivered_at=AT,
                        delivered_object="Kustomization/ns/apps", delivered_reason="Progressing",
                        last_hour={"delivered": 3}, last_day={"delivered": 5, "skipped": 1})
    bad = ObjectStatus("Provider", "ns/bad", "generic", AT, "retrying", "HTTP 503 <b>busy</b>",
                       "HTTP 503 <b>busy</b>", AT, last_hour={"retrying": 2}, last_day={"retrying": 2,
                                                                                      "dead-lettered": 1})
    return Snapshot([good, bad], {"depth": 3, "oldestAgeSeconds": 42, "deadLetters": 1})


def test_colour_only_on_a_terminal_without_no_color(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(Terminal()) and not use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_colour(Terminal())


def test_table_counts_outcomes_and_colours_failures():
    plain = render_table(snapshot())
    lines = plain.splitlines()
    assert "\033[" not in plain
    assert "3/0/0" in lines[1] and "5/1/0" in lines[1] and "Kustomization/ns/apps Progressing" in lines[1]
    assert "0/0/2" in lines[2] and "0/0/3" in lines[2] and lines[2].endswith("error: HTTP 503 <b>busy</b>")
    assert lines[-1] == "queue: 3 message(s), oldest 42 s; dead letters: 1"
    coloured = render_table(snapshot(), colour=True)
    assert "\033[33mretrying" in coloured and "\033[32mdelivered" in coloured


def test_watch_prints_until_interrupted(monkeypatch):
    monkeypatch.setattr("fluxnotify.ops.status.time.sleep", lambda seconds: None)
    reads = iter([snapshot(), snapshot()])

    def read():
        try:
            return next(reads)
        except StopIteration:
            raise KeyboardInterrupt from None

    out = io.StringIO()
    assert status_command(read, watch=True, out=out) == 0
    assert out.getvalue().count("queue: 3 message(s)") == 2


def test_delivering_condition_from_the_recorded_outcome():
    ready = Condition("Provider", "ns/good", True, "Succeeded", "Initialized")
    good, bad = snapshot().objects
    assert delivering(ready, good).as_dict() == {
        "kind": "Provider", "name": "ns/good", "type": "Delivering", "status": "True", "reason": "Succeeded",
        "message": "last delivered 2027-01-15T08:00:00Z: Kustomization/ns/apps Progressing"}
    failed = delivering(ready, bad)
    assert (failed.status, failed.reason, failed.message) == ("False", "Retrying",
                                                              "2027-01-15T08:00:00Z: HTTP 503 <b>busy</b>")
    unknown = delivering(ready, None)
    assert (unknown.status, unknown.reason) == ("Unknown", "NoDelivery")
    skipped = ObjectStatus("Alert", "ns/a", "slack", AT, "skipped", "commit status update events are only sent to git")
    assert delivering(ready, skipped).reason == "Skipped" and delivering(ready, skipped).ready
    listed = with_delivering([ready, Condition("Alert", "ns/x", False, "ProviderNotFound", "…")], [good])
    assert [(c.key, c.type) for c in listed] == [("ns/good", "Ready"), ("ns/good", "Delivering"),
                                                 ("ns/x", "Ready"), ("ns/x", "Delivering")]


def test_page_escapes_what_it_shows_and_carries_no_external_asset():
    html = render_page(snapshot(), "tok&en")
    assert "<b>busy</b>" not in html and "HTTP 503 &lt;b&gt;busy&lt;/b&gt;" in html
    assert 'http-equiv="refresh"' in html
    assert "src=" not in html and "<link" not in html and "<script" not in html
    assert 'class="failing" data-kind="Provider" data-name="ns/bad"' in html


def test_status_addr_is_host_colon_port():
    from fluxnotify.ops.statuspage import parse_addr

    assert parse_addr("127.0.0.1:9294") == ("127.0.0.1", 9294)
    assert parse_addr(":0") == ("127.0.0.1", 0)
    for bad in ("9294", "localhost:", "host:port"):
        try:
            parse_addr(bad)
        except ValueError as err:
            assert "--status-addr" in str(err)
        else:
            raise AssertionError(bad)


def test_serve_without_status_addr_starts_no_page(tmp_path):
    from fluxnotify.ops.local import LocalStack

    config = tmp_path / "c.yaml"
    config.write_text("")
    stack = LocalStack([str(config)], port=0, database=str(tmp_path / "q.db"), workers=0, status_addr="")
    try:
        assert stack.status_page is None
    finally:
        stack.stop()


def test_a_busy_status_addr_is_a_clear_error(tmp_path):
    import socket

    import pytest

    from fluxnotify.ops.local import LocalStack

    config = tmp_path / "c.yaml"
    config.write_text("")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        addr = f"127.0.0.1:{busy.getsockname()[1]}"
        with pytest.raises(ValueError, match=f"--status-addr {addr}: cannot listen"):
            LocalStack([str(config)], port=0, database=str(tmp_path / "q.db"), workers=0, status_addr=addr)
