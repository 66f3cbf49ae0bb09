"""fluxnotify.io/digest and fluxnotify.io/min-events: windows, flushes, stores (SQLite, DynamoDB)."""

from __future__ import annotations

import hashlib
import json
import logging
import time

import boto3
import pytest
from exthelpers import Harness, event, generic_manifests
from moto import mock_aws
from statetable import create_state_table

from fluxnotify.delivery.stages import digests
from fluxnotify.delivery.stages.digests import cut_lines, event_line
from fluxnotify.model.event import parse_event
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.render import render
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.digests import DUE_INDEX, LEASE_SECONDS, DynamoDigests, Entry, FlushBusy, SqliteDigests
from fluxnotify.state.ledger import NullLedger
from fluxnotify.state.status import NullRecorder
from fluxnotify.state.stores import Stores
from fluxnotify.state.threads import SqliteThreads

DIGEST = {"fluxnotify.io/digest": "5m"}


def flush_now(harness: Harness, first: bool = True) -> list:
    """Run the queued flush messages as if their delay had passed."""
    results = []
    for body, delay in harness.take_queued():
        data = json.loads(body)
        assert "digest" in data and (299 <= delay <= 300 or not first)
        data["digest"]["due"] = time.time() - 1
        results += harness.dispatcher.handle(json.dumps(data))
    return results


def test_events_are_gathered_and_sent_as_one_digest(sink):
    harness = Harness(generic_manifests(sink.url, DIGEST))
    gathered = harness.send(event("apps", message="first\nsecond line", timestamp="2026-01-01T00:00:02Z"))
    harness.send(event("infra", reason="HealthCheckFailed", severity="error", message="unhealthy",
                       timestamp="2026-01-01T00:00:03Z"))
    harness.send(event("older", timestamp="2026-01-01T00:00:01Z"))
    assert gathered[0].outcome == "skipped" and "gathered into the digest" in gathered[0].detail
    assert sink.requests == []
    (flush_message,) = [json.loads(b) for b, _ in harness.queue.messages]  # one window, one flush
    (result,) = flush_now(harness)
    assert result.outcome == "delivered"
    (request,) = sink.wait_for(1)
    body = request.json()
    assert body["severity"] == "error"  # the worst seen
    assert body["message"] == (
        "Kustomization/flux-system/older: ReconciliationSucceeded: applied\n"
        "Kustomization/flux-system/apps: ReconciliationSucceeded: first\n"
        "Kustomization/flux-system/infra: HealthCheckFailed: unhealthy")
    assert body["metadata"] == {"events": "3", "summary": "prod cluster"}
    assert flush_message["digest"]["alert"] == "flux-system/team"


def test_a_redelivered_flush_or_event_sends_nothing_twice(sink):
    harness = Harness(generic_manifests(sink.url, DIGEST))
    harness.send(event("apps"), message_id="m-1")
    harness.send(event("apps"), message_id="m-1")  # the same queue message again: counted once
    harness.send(event("infra"), message_id="m-2")
    queued = list(harness.queue.messages)
    assert len(queued) == 2  # the opener, redelivered, queues its flush again: flushes are idempotent
    flush_now(harness)
    harness.queue.messages = queued
    assert flush_now(harness) == []
    (request,) = sink.wait_for(1)
    assert request.json()["metadata"]["events"] == "2"
    harness.send(event("next"))  # a new window opens after the flush
    flush_now(harness)
    assert [r.json()["metadata"]["events"] for r in sink.wait_for(2)] == ["2", "1"]


def test_min_events_drops_a_small_window_and_logs_the_rule(sink, caplog):
    harness = Harness(generic_manifests(sink.url, {**DIGEST, "fluxnotify.io/min-events": "3"}))
    harness.send(event("a"))
    harness.send(event("b"))
    with caplog.at_level(logging.INFO):
        assert flush_now(harness) == []
    assert sink.requests == []
    rules = [getattr(r, "rule", "") for r in caplog.records]
    assert "fluxnotify.io/min-events: 2 event(s) in the 5m window, fewer than 3" in rules
    for name in "cde":
        harness.send(event(name))
    flush_now(harness)
    assert sink.wait_for(1)[0].json()["metadata"]["events"] == "3"


def test_a_failed_digest_is_retried_then_sent_once(sink):
    harness = Harness(generic_manifests(sink.url, DIGEST), retry_base=30)
    harness.send(event("apps"))
    sink.respond(503, "busy")
    (failed,) = flush_now(harness)
    assert failed.outcome == "retry"
    (retry_body, delay), = harness.queue.messages
    assert json.loads(retry_body)["attempt"] == 2 and delay > 0
    (sent,) = flush_now(harness, first=False)
    assert sent.outcome == "delivered"
    assert len(sink.wait_for(2)) == 2 and harness.queue.messages == []


def test_digest_is_cut_to_the_budget_with_a_count_of_lines_left_out():
    lines = [f"Kustomization/ns/app-{i}: Failed: boom" for i in range(100)]
    text = cut_lines(lines, 100, 300)
    assert len(text) <= 300
    kept = text.split("\n")
    assert kept[-1] == f"… {100 - len(kept) + 1} more event(s) left out"
    assert kept[0] == lines[0]
    assert cut_lines(lines[:2], 2, 300) == "\n".join(lines[:2])
    assert cut_lines(lines[:3], 7, 3000).endswith("… 4 more event(s) left out")  # lines beyond the store's cap


def test_discord_digest_fits_discords_limit(sink):
    text = generic_manifests(sink.url, DIGEST).replace("type: generic-hmac", "type: discord")
    harness = Harness(text)
    for index in range(200):
        harness.send(event(f"app-{index:03}", message="x" * 80), message_id=f"m-{index}")
    flush_now(harness)
    payload = sink.wait_for(1)[0].json()
    message = payload["embeds"][0]["description"] if "embeds" in payload else json.dumps(payload)
    assert "more event(s) left out" in message


def test_event_line_is_the_first_line_of_the_message():
    data = parse_event(json.dumps(event("apps", message="line one\nline two")))
    assert event_line(data) == "Kustomization/flux-system/apps: ReconciliationSucceeded: line one"


def test_render_says_which_digest_window_the_event_joins():
    """Not a 1-event digest serve would never send (issue: min-events 3 rendered one)."""
    objects = load_yaml(generic_manifests("http://127.0.0.1:1", {**DIGEST, "fluxnotify.io/min-events": "3"}))
    (result,) = render(objects, parse_event(json.dumps(event())))
    assert result["deliveries"] == [] and result["error"] is None and result["skipped"] is None
    assert result["gathered"] == ("gathered into the digest of flux-system/team (5m window, sent when at least "
                                  "3 event(s) joined it)")


# --- the stores ---------------------------------------------------------------------------------


def entry(message_id: str, *, key: str = "ns/a|ns/p", severity: str = "info", line: str = "l") -> Entry:
    return Entry(key, "ns/a", "prod", 60.0, message_id, severity, "2026-01-01T00:00:00Z", line,
                 {"involvedObject": {"kind": "Kustomization", "name": "x", "namespace": "ns"}})


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        yield SqliteDigests(SqliteDatabase(str(tmp_path / "state.db")))
        return
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="state", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        yield DynamoDigests("state")


def test_store_window_lifecycle(store):
    first = store.add(entry("m1", line="one"), now=1000.0)
    again = store.add(entry("m1", line="one"), now=1001.0)
    second = store.add(entry("m2", severity="error", line="two"), now=1002.0)
    assert first.window == again.window == second.window
    assert (first.opener, second.opener, second.due, second.count) == ("m1", "m1", 1060.0, 2)
    closed = store.close(first.key, first.window, now=2000.0)
    assert closed.count == 2 and closed.severity == "error" and [e["line"] for e in closed.entries] == ["one", "two"]
    assert closed.cluster == "prod" and closed.base["involvedObject"]["name"] == "x"
    later = store.add(entry("m3"), now=1003.0)
    assert later.window != first.window and later.opener == "m3" and later.count == 1
    with pytest.raises(FlushBusy):  # a second flush while the first may still be sending
        store.close(first.key, first.window, now=2000.0 + LEASE_SECONDS - 1)
    # closed, not sent, lease over: the flush of a crashed dispatcher resends it
    assert store.close(first.key, first.window, now=2000.0 + LEASE_SECONDS + 1).count == 2
    store.release(first.key, first.window)  # a failed send: the retry need not wait for the lease
    assert store.close(first.key, first.window, now=2000.0 + LEASE_SECONDS + 2).count == 2
    store.mark_sent(first.key, first.window)
    assert store.close(first.key, first.window) is None
    assert store.close(later.key, later.window).count == 1


def test_digest_state_in_dynamodb_uses_its_prefix(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb")
        create_state_table(client)  # as template.yaml defines it
        store = DynamoDigests("state", client)
        window = store.add(entry("m1"), now=time.time())
        marker = "digest#seen#" + hashlib.sha256(b"ns/a|ns/p\0m1").hexdigest()[:32]
        keys = sorted(item["pk"]["S"] for item in client.scan(TableName="state")["Items"])
        assert keys == sorted(["digest#ns/a|ns/p", f"digest#{window.window}#1", marker])  # head, line 1, marker
        store.close(window.key, window.window)
        keys = sorted(item["pk"]["S"] for item in client.scan(TableName="state")["Items"])
        assert keys == sorted([f"digest#ns/a|ns/p#{window.window}", f"digest#{window.window}#1", marker])
        for item in client.scan(TableName="state")["Items"]:  # everything expires; nothing left behind
            assert int(item["expires_at"]["N"]) > time.time() + 6 * 24 * 3600


def test_dispatcher_state_is_the_queue_database(tmp_path, sink):
    database = SqliteDatabase(str(tmp_path / "q.db"))
    stores = Stores(NullLedger(), NullRecorder(), SqliteDigests(database), SqliteThreads(database))
    harness = Harness(generic_manifests(sink.url, DIGEST), stores=stores)
    harness.send(event())
    assert database.execute("SELECT count FROM digest_windows")[0][0] == 1


def test_a_dead_lettered_digest_is_replayed_as_it_is(sink):
    harness = Harness(generic_manifests(sink.url, {**DIGEST, "fluxnotify.io/message": "T: {{ event.message }}"}))
    harness.send(event("apps"))
    sink.respond(400, "bad")
    (failed,) = flush_now(harness)
    assert failed.outcome == "dead"
    (letter,) = harness.dead.bodies()
    assert letter["reason"] == "permanent failure" and letter["targets"] == ["flux-system/team"]
    (replayed,) = harness.dispatcher.handle(json.dumps(letter))  # what `fluxnotify replay` queues
    assert replayed.outcome == "delivered"
    first, second = (r.json() for r in sink.wait_for(2))
    assert first["message"] == second["message"] == "Kustomization/flux-system/apps: ReconciliationSucceeded: T: applied"
    assert second["metadata"]["events"] == "1"


def test_a_window_longer_than_the_queue_delay_is_flushed_by_the_sweep(sink):
    harness = Harness(generic_manifests(sink.url, {"fluxnotify.io/digest": "1h"}))
    harness.send(event("apps"))
    assert harness.take_queued() == []  # no chain of 15-minute hops
    store = harness.dispatcher.stores.digests
    assert digests.sweep(store, harness.queue) == 0  # 60 minutes left: not yet
    assert digests.sweep(store, harness.queue, now=time.time() + 50 * 60) == 1
    ((body, delay),) = harness.take_queued()
    assert json.loads(body)["digest"]["alert"] == "flux-system/team" and 595 <= delay <= 600
    assert digests.sweep(store, harness.queue, now=time.time() + 51 * 60) == 0  # queued once


@pytest.fixture(params=["sqlite", "dynamodb"])
def long_state(request, monkeypatch):
    """The digest state of a 24 h test: serve's SQLite, or DynamoDB (moto) with the template's index."""
    if request.param == "sqlite":
        database = SqliteDatabase(":memory:")
        yield Stores(NullLedger(), NullRecorder(), SqliteDigests(database), SqliteThreads(database))
        return
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="state", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": kind}
                                  for name, kind in (("pk", "S"), ("digest_sweep", "S"), ("digest_due", "N"))],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{"IndexName": DUE_INDEX, "KeySchema": [
                {"AttributeName": "digest_sweep", "KeyType": "HASH"}, {"AttributeName": "digest_due", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["window", "alert"]}}])
        yield Stores(NullLedger(), NullRecorder(), DynamoDigests("state", client), SqliteThreads(SqliteDatabase(":memory:")))


def test_a_24_hour_window_flushes_once_with_fewer_than_16_hops(sink, long_state, monkeypatch):
    """A simulated day: the clock moves a minute at a time, the sweep runs every SWEEP_SECONDS
    (a scheduled invocation starts a new chain), a queued message runs when its delay has
    passed, and each message is one hop more than the invocation that queued it."""
    now = [1_800_000_000.0]
    monkeypatch.setattr(digests, "clock", lambda: now[0])
    harness = Harness(generic_manifests(sink.url, {"fluxnotify.io/digest": "24h"}), stores=long_state)
    start, pending, hops_at_send = now[0], [], []

    def run(action, hops: int) -> None:
        sent = len(sink.requests)
        action()
        pending.extend((now[0] + delay, body, hops + 1) for body, delay in harness.take_queued())
        if len(sink.requests) > sent:
            hops_at_send.append(hops)

    next_sweep = start
    while now[0] < start + 25 * 3600 and not hops_at_send:
        if now[0] - start < 24 * 3600 and int(now[0] - start) % 3600 == 0:  # an event an hour
            run(lambda: harness.send(event(f"app-{int(now[0] - start) // 3600}")), 1)
        if now[0] >= next_sweep:
            run(lambda: digests.sweep(long_state.digests, harness.queue), 1)
            next_sweep += digests.SWEEP_SECONDS
        for item in sorted(m for m in pending if m[0] <= now[0]):
            pending.remove(item)
            run(lambda body=item[1]: harness.dispatcher.handle(body), item[2])
        now[0] += 60
    (request,) = sink.wait_for(1)
    assert request.json()["metadata"]["events"] == "24"
    assert start + 24 * 3600 <= now[0] <= start + 24 * 3600 + 120  # at the window's end
    print(f"24 h window: sent by an invocation {hops_at_send[0]} hop(s) into its chain")
    assert hops_at_send == [2]  # schedule → sweep → flush message; a 15-minute chain would need 97 (< 16)
    assert pending == []


def test_a_second_flush_message_waits_for_the_first_to_finish(sink):
    harness = Harness(generic_manifests(sink.url, DIGEST))
    harness.send(event("apps"))
    ((body, _),) = harness.take_queued()
    data = json.loads(body)
    data["digest"]["due"] = time.time() - 1
    window = data["digest"]
    harness.dispatcher.stores.digests.close(window["key"], window["window"])  # a flush in flight
    assert harness.dispatcher.handle(json.dumps(data)) == []
    ((again, delay),) = harness.take_queued()
    assert json.loads(again) == data and 140 <= delay <= LEASE_SECONDS
    assert sink.requests == []
