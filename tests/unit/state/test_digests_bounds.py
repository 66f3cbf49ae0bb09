"""The digest stores stay bounded whatever arrives (issue 21 points 5 and 6a): SQLite rows and
the DynamoDB window item (on moto, which enforces DynamoDB's 400 KB item limit)."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fluxnotify.delivery.stages.digests import digest_event
from fluxnotify.model.event import EVENT_GROUP_PREFIX
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.digests import (
    ITEM_BOUND,
    MAX_BASE_BYTES,
    MAX_ENTRIES,
    RECENT_IDS,
    DynamoDigests,
    Entry,
    SqliteDigests,
    bounded_base,
)

EVENTS = 10_000
BIG = "x" * 150_000  # a 150 KB message


def entry(number: int, *, message: str = "applied", line: str | None = None, seconds: float = 3600.0) -> Entry:
    base = {"involvedObject": {"kind": "Kustomization", "namespace": "ns", "name": f"app-{number}"},
            "severity": "error" if number == 7 else "info", "message": message, "reason": "Failed",
            "metadata": {"revision": message[:1000]}, "reportingController": "kustomize-controller"}
    return Entry("ns/a|ns/p", "ns/a", "prod", seconds, f"m-{number}", base["severity"], "2026-01-01T00:00:00Z",
                 line or f"Kustomization/ns/app-{number}: Failed: {message[:280]}", base)


def test_the_item_bound_is_below_dynamodbs_limit():
    assert ITEM_BOUND < 400 * 1024
    base = bounded_base({"involvedObject": {"kind": "K" * 9000, "namespace": "n" * 9000, "name": "😀" * 9000},
                         "message": "😀" * 100_000, "reason": "r" * 9000, "severity": "info",
                         "metadata": {str(i): "v" * 1000 for i in range(500)}, "reportingController": "c" * 9000,
                         "reportingInstance": "i" * 9000})
    assert len(json.dumps(base).encode()) <= MAX_BASE_BYTES
    assert "metadata" not in base and base["involvedObject"]["name"] == "😀" * 512


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


@pytest.fixture
def dynamodb(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(TableName="state", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        yield client


def item_bytes(client) -> int:
    """The open window item, serialised as JSON: more than DynamoDB counts (names + values)."""
    item = client.get_item(TableName="state", Key={"pk": {"S": "digest#ns/a|ns/p"}})["Item"]
    return len(json.dumps(item, ensure_ascii=False).encode())


def test_moto_enforces_the_400_kb_item_limit(dynamodb):
    with pytest.raises(ClientError, match="Item size has exceeded"):
        dynamodb.put_item(TableName="state", Item={"pk": {"S": "big"}, "v": {"S": "x" * 410_000}})


def fill(store: DynamoDigests, client, count: int, line: str | None = None) -> int:
    """Add count events (150 KB ones among them, the first too); the largest item seen, in bytes."""
    largest = 0
    for number in range(count):
        big = number % 500 == 0
        store.add(entry(number, message=BIG if big else "applied", line=line), now=1000.0)
        if number % 250 == 0 or number in (276, 277, count - 1):  # 277: where the unbounded item failed
            largest = max(largest, item_bytes(client))
    return largest
