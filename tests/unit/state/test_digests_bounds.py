"""The digest stores stay bounded whatever arrives (issue 21 points 5 and 6a): SQLite rows, and
DynamoDB's small items (on moto, which enforces DynamoDB's 400 KB item limit): 10,000 events into
one window, 150 KB events, the longest lines.

On moto an event costs about 12 ms of CPU (3 requests through botocore and moto's expression
parser), so the DynamoDB window gets DYNAMO_EVENTS events (2,000: four times the line cap and
twice what the previous design remembered of message ids); ``DIGEST_EVENTS=10000`` runs the
full 10,000 (about 2 minutes of CPU; 15 minutes on a loaded 2-core machine). Every DynamoDB
item's size is independent of the count but for its digits, which the assertions bound."""

from __future__ import annotations

import json
import os
import time

import pytest
from awscalls import item_size
from botocore.exceptions import ClientError

from fluxnotify.delivery.stages.digests import digest_event
from fluxnotify.model.event import EVENT_GROUP_PREFIX
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state import digests_dynamo
from fluxnotify.state.digests import (
    MAX_BASE_BYTES,
    MAX_ENTRIES,
    MAX_TEXT,
    DynamoDigests,
    Entry,
    SqliteDigests,
    bounded_base,
)
from fluxnotify.state.digests_sqlite import RECENT_IDS

KB = 1024
EVENTS = 10_000
DYNAMO_EVENTS = int(os.environ.get("DIGEST_EVENTS", "2000"))
BIG = "x" * 150_000  # a 150 KB message


def entry(number: int, *, message: str = "applied", line: str | None = None, seconds: float = 3600.0,
          key: str = "ns/a|ns/p") -> Entry:
    base = {"involvedObject": {"kind": "Kustomization", "namespace": "ns", "name": f"app-{number}"},
            "severity": "error" if number == 7 else "info", "message": message, "reason": "Failed",
            "metadata": {"revision": message[:1000]}, "reportingController": "kustomize-controller"}
    return Entry(key, "ns/a", "prod", seconds, f"m-{number}", base["severity"], "2026-01-01T00:00:00Z",
                 line or f"Kustomization/ns/app-{number}: Failed: {message[:280]}", base)


HUGE = {"involvedObject": {"kind": "K" * 9000, "namespace": "n" * 9000, "name": "😀" * 9000, "uid": "u" * 9000,
                           "apiVersion": "a" * 9000, "resourceVersion": "r" * 9000, "fieldPath": "f" * 9000},
        "message": "😀" * 100_000, "reason": "r" * 9000, "severity": "s" * 9000,
        "metadata": {str(i): "v" * 1000 for i in range(500)}, "reportingController": "c" * 9000,
        "reportingInstance": "😀" * 9000, "timestamp": "2026-01-01T00:00:00Z"}


def test_the_first_event_is_kept_bounded():
    base = bounded_base(HUGE)
    assert len(json.dumps(base, ensure_ascii=False).encode()) <= MAX_BASE_BYTES
    assert "metadata" not in base and base["message"] == ""  # the digest's lines replace the message
    assert len(base["involvedObject"]["name"].encode()) <= MAX_TEXT and base["involvedObject"]["name"][0] == "😀"
    small = bounded_base({"involvedObject": {"kind": "Kustomization", "namespace": "ns", "name": "a" * 253}})
    assert small["involvedObject"]["name"] == "a" * 253  # a Kubernetes name is never cut


def test_sqlite_window_keeps_500_lines_and_counts_every_event(tmp_path):
    database = SqliteDatabase(str(tmp_path / "state.db"))
    store = SqliteDigests(database)
    for number in range(EVENTS):
        window = store.add(entry(number, message=BIG if number % 1000 == 0 else "applied"), now=1000.0)
    store.add(entry(EVENTS - 5), now=1001.0)  # a redelivered message: counted once
    rows = {table: database.execute(f"SELECT count(*) FROM {table}")[0][0]  # noqa: S608
            for table in ("digest_windows", "digest_events", "digest_seen")}
    assert rows == {"digest_windows": 1, "digest_events": MAX_ENTRIES, "digest_seen": 2 * RECENT_IDS}
    (base_bytes,) = database.execute("SELECT length(base) FROM digest_windows")[0]
    assert base_bytes <= MAX_BASE_BYTES
    closed = store.close(window.key, window.window, now=5000.0)
    assert closed.count == EVENTS and len(closed.entries) == MAX_ENTRIES and closed.severity == "error"
    digest = digest_event(closed, 3000)
    assert digest.metadata[EVENT_GROUP_PREFIX + "events"] == str(EVENTS)
    kept = digest.message.split("\n")
    assert kept[-1] == f"… {EVENTS - len(kept) + 1} more event(s) left out"
    store.mark_sent(window.key, window.window)
    assert database.execute("SELECT count(*) FROM digest_seen")[0][0] == 0


def scan(client) -> list[dict]:
    items, start = [], {}
    while True:
        page = client.scan(TableName="state", **start)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def kinds(items: list[dict], window: str) -> dict[str, list[int]]:
    """Item sizes (as DynamoDB counts them) by kind: head, first line, other lines, markers."""
    found: dict[str, list[int]] = {"head": [], "first": [], "line": [], "marker": [], "other": []}
    for item in items:
        pk = item["pk"]["S"]
        kind = ("head" if pk == "digest#ns/a|ns/p" else "first" if pk == f"digest#{window}#1"
                else "line" if pk.startswith(f"digest#{window}#") else "marker" if pk.startswith("digest#seen#")
                else "other")
        found[kind].append(item_size(item))
    return found


def test_moto_enforces_the_400_kb_item_limit(dynamodb):
    with pytest.raises(ClientError, match="Item size has exceeded"):
        dynamodb.put_item(TableName="state", Item={"pk": {"S": "big"}, "v": {"S": "x" * 410_000}})


def test_dynamodb_window_of_many_events_stays_in_small_items(dynamodb):
    store = DynamoDigests("state", dynamodb)
    started = time.perf_counter()
    for number in range(DYNAMO_EVENTS):
        window = store.add(entry(number, message=BIG if number % 500 == 0 else "applied"), now=1000.0)
    elapsed = time.perf_counter() - started
    assert store.add(entry(DYNAMO_EVENTS - 5), now=1001.0).count == DYNAMO_EVENTS  # redelivered: counted once
    assert store.add(entry(3), now=1002.0).count == DYNAMO_EVENTS  # long after: still once (exact, per message)
    sizes = kinds(scan(dynamodb), window.window)
    print(f"{DYNAMO_EVENTS} events into one window on moto: {elapsed:.1f} s; largest item by kind (bytes): "
          f"{ {kind: max(found, default=0) for kind, found in sizes.items()} }")
    assert len(sizes["marker"]) == DYNAMO_EVENTS and len(sizes["line"]) + len(sizes["first"]) == MAX_ENTRIES
    assert sizes["other"] == [] and len(sizes["head"]) == 1
    assert max(sizes["head"]) < KB and max(sizes["line"]) < KB and max(sizes["marker"]) < KB
    assert max(sizes["first"]) < KB  # the 150 KB first event, bounded
    closed = store.close(window.key, window.window, now=5000.0)
    assert closed.count == DYNAMO_EVENTS and len(closed.entries) == MAX_ENTRIES and closed.severity == "error"
    assert closed.base["involvedObject"]["name"] == "app-0" and (closed.alert, closed.cluster) == ("ns/a", "prod")
    digest = digest_event(closed, 3000)
    assert digest.metadata[EVENT_GROUP_PREFIX + "events"] == str(DYNAMO_EVENTS)
    assert digest.message.startswith("Kustomization/ns/app-0: Failed: xxx")


def test_dynamodb_items_of_the_largest_events_and_longest_lines_stay_bounded(dynamodb, monkeypatch):
    """The worst case per item: a first event of 9,000-character fields and a 100,000-emoji
    message, lines of 300 4-byte characters (cut to 300 bytes), past the line cap (40 here:
    a line's size does not depend on it)."""
    monkeypatch.setattr(digests_dynamo, "MAX_ENTRIES", 40)
    store = DynamoDigests("state", dynamodb)
    huge = Entry("ns/a|ns/p", "ns/a", "prod", 3600.0, "m-0", "info", "2026-01-01T00:00:00Z", "😀" * 300, HUGE)
    window = store.add(huge, now=1000.0)
    for number in range(1, 40 + 50):
        store.add(entry(number, message=BIG, line="😀" * 300), now=1000.0)
    sizes = kinds(scan(dynamodb), window.window)
    print(f"largest items of the largest events (bytes): { {k: max(v, default=0) for k, v in sizes.items()} }")
    assert max(sizes["first"]) < MAX_BASE_BYTES + KB < 5 * KB  # once per window
    assert max(sizes["line"]) < KB and max(sizes["marker"]) < KB and max(sizes["head"]) < KB
    closed = store.close(window.key, window.window, now=5000.0)
    assert closed.count == 40 + 50 and len(closed.entries) == 40
    assert all(len(e["line"].encode()) <= 300 for e in closed.entries)
