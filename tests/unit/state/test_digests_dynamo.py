"""The DynamoDB digest store (state/digests_dynamo.py): write units per gathered event, counted as
AWS bills them (tests/awscalls.py), redelivery, failures between its writes, races with a
flush, and windows left open by the previous release (one item per window)."""

from __future__ import annotations

import json

import boto3
import pytest
from awscalls import AwsCalls, moto_items
from moto import mock_aws

from fluxnotify.state import digests_dynamo
from fluxnotify.state.digests import DUE_INDEX, DynamoDigests, Entry
from fluxnotify.state.digests_dynamo import head_key, line_key

BASE = {"involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"},
        "severity": "info", "message": "applied", "reason": "ReconciliationSucceeded",
        "reportingController": "kustomize-controller"}
KEY = "flux-system/team|flux-system/slack"
CAP = 30


def entry(number: int, *, key: str = KEY, seconds: float = 300.0, severity: str = "info") -> Entry:
    return Entry(key, key.split("|")[0], "prod", seconds, f"message-{number}", severity, "2026-01-01T00:00:00Z",
                 f"Kustomization/flux-system/app-{number}: ReconciliationSucceeded: applied revision main@sha1:"
                 f"{'0' * 40}", BASE)


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        session = boto3.session.Session()
        calls = AwsCalls(session, moto_items()).install()
        client = session.client("dynamodb")
        client.create_table(  # as template.yaml defines it
            TableName="state", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": kind}
                                  for name, kind in (("pk", "S"), ("digest_sweep", "S"), ("digest_due", "N"))],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{"IndexName": DUE_INDEX, "KeySchema": [
                {"AttributeName": "digest_sweep", "KeyType": "HASH"}, {"AttributeName": "digest_due", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["window", "alert"]}}])
        yield client, calls


def units(calls: AwsCalls, phase: str) -> float:
    return calls.units(phase, service="dynamodb", unit="WRU")


@pytest.mark.parametrize("seconds", [300.0, 24 * 3600.0], ids=["5m", "24h"])
def test_a_gathered_event_costs_at_most_3_write_units(aws, seconds, monkeypatch):
    client, calls = aws
    monkeypatch.setattr(digests_dynamo, "MAX_ENTRIES", CAP)  # the 500-line cap, sooner (moto is slow)
    store = DynamoDigests("state", client)
    for number in range(CAP + 20):
        calls.phase = f"event {number}"
        store.add(entry(number, seconds=seconds, severity="error" if number % 7 == 0 else "info"))
    per_event = [units(calls, f"event {n}") for n in range(CAP + 20)]
    print(f"write units per gathered event ({seconds:.0f} s window): first {per_event[0]}, "
          f"then {per_event[1]}, once the window is full {per_event[-1]}")
    assert per_event[:CAP] == [3] * CAP  # marker, head, line (line 1: the first event too)
    assert per_event[CAP:] == [2] * 20  # the window is full: marker and head
    assert calls.count("event 1") == {("dynamodb", "PutItem"): 2, ("dynamodb", "UpdateItem"): 1}
    calls.phase = "redelivered"
    assert store.add(entry(5, seconds=seconds)).count == CAP + 20
    assert units(calls, "redelivered") == 1  # the marker's refused put; the head is read, not written


@pytest.mark.parametrize("seconds", [300.0, 24 * 3600.0], ids=["5m", "24h"])
def test_the_longest_names_stay_within_3_write_units(aws, seconds):
    """Kubernetes' longest namespaces (63) and names (253) in the Alert and Provider keys."""
    client, calls = aws
    store = DynamoDigests("state", client)
    key = f"{'n' * 63}/{'a' * 253}|{'n' * 63}/{'p' * 253}"
    for number in range(3):
        calls.phase = f"event {number}"
        store.add(entry(number, key=key, seconds=seconds))
    assert [units(calls, f"event {n}") for n in range(3)] == [3, 3, 3]
    due = store.due(2e9)  # the sweep finds a long window (only), its Alert from its key
    assert [(w.key, w.alert) for w in due] == ([(key, key.split("|")[0])] if seconds > 900 else [])


def test_a_failed_count_takes_the_marker_back_so_the_redelivery_counts(aws):
    client, _ = aws

    class Failing:
        """The client, but the head's update fails once (throttled, a network error...)."""

        failed = False

        def __getattr__(self, name):
            return getattr(client, name)

        def update_item(self, **kwargs):
            if not Failing.failed:
                Failing.failed = True
                raise client.exceptions.ProvisionedThroughputExceededException(
                    {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "UpdateItem")
            return client.update_item(**kwargs)

    store = DynamoDigests("state", Failing())
    with pytest.raises(client.exceptions.ProvisionedThroughputExceededException):
        store.add(entry(1))
    window = store.add(entry(1))  # SQS delivers the message again
    assert (window.count, window.opener) == (1, "message-1")
    assert store.close(window.key, window.window).entries[0]["line"].startswith("Kustomization/flux-system/app-1")


def test_a_redelivered_opener_queues_its_flush_and_writes_its_first_line_again(aws):
    client, _ = aws
    store = DynamoDigests("state", client)
    window = store.add(entry(1))
    store.add(entry(2))
    client.delete_item(TableName="state", Key=line_key(window.window, 1))  # the opener died before its line
    again = store.add(entry(1))
    assert (again.window, again.opener, again.count) == (window.window, "message-1", 2)  # the stage re-queues
    closed = store.close(window.key, window.window)
    assert closed.base["involvedObject"]["name"] == "apps" and len(closed.entries) == 2
    assert store.add(entry(2)).window == ""  # its window closed: not counted into the next one


def test_an_event_joining_while_the_flush_closes_is_counted(aws):
    client, _ = aws
    store = DynamoDigests("state", client)
    window = store.add(entry(1))

    class Racing:
        """The client, but an event joins between the close's read and its transaction."""

        raced = False

        def __getattr__(self, name):
            return getattr(client, name)

        def transact_write_items(self, **kwargs):
            if not Racing.raced:
                Racing.raced = True
                store.add(entry(2))
            return client.transact_write_items(**kwargs)

    closed = DynamoDigests("state", Racing()).close(window.key, window.window)
    assert closed.count == 2 and len(closed.entries) == 2
    assert client.get_item(TableName="state", Key=head_key(KEY)).get("Item") is None


def old_window(window: str, count: int, closed_at: float | None = None) -> dict:
    """A window as the previous release stored it: one item with its lines, ids and first event."""
    entries = [{"L": [{"S": json.dumps({"t": "2026-01-01T00:00:00Z", "line": f"old {n}"})} for n in range(count)]}]
    item = {"pk": {"S": f"digest#{KEY}" + (f"#{window}" if closed_at is not None else "")},
            "window": {"S": window}, "alert": {"S": "flux-system/team"}, "cluster": {"S": "prod"},
            "due": {"N": "1000.5"}, "base": {"S": json.dumps(BASE)}, "opener": {"S": "old-0"},
            "expires_at": {"N": "9999999999"}, "count": {"N": str(count)}, "errors": {"N": "1"},
            "ids": {"SS": [f"{n:016x}" for n in range(count)]}, "entries": entries[0]}
    if closed_at is not None:
        item |= {"state": {"S": "closed"}, "closed_at": {"N": repr(closed_at)}}
        del item["ids"]
    return item


def test_a_window_open_at_the_upgrade_is_sent_with_its_old_and_new_lines(aws):
    client, _ = aws
    client.put_item(TableName="state", Item=old_window("w-old", 3))
    store = DynamoDigests("state", client)
    joined = store.add(entry(9))
    assert (joined.window, joined.count, joined.opener) == ("w-old", 4, "old-0")
    closed = store.close(KEY, "w-old", now=2000.0)
    assert closed.count == 4 and closed.severity == "error" and closed.base == BASE
    assert [e["line"][:6] for e in closed.entries] == ["old 0", "old 1", "old 2", "Kustom"]
    store.mark_sent(KEY, "w-old")
    item = client.get_item(TableName="state", Key={"pk": {"S": f"digest#{KEY}#w-old"}})["Item"]
    assert "entries" not in item and "base" not in item and "ids" not in item


def test_a_window_closed_at_the_upgrade_is_sent_once_with_what_it_has(aws):
    client, _ = aws
    client.put_item(TableName="state", Item=old_window("w-closed", 2, closed_at=0.0))
    store = DynamoDigests("state", client)
    closed = store.close(KEY, "w-closed", now=2000.0)
    assert closed.count == 2 and [e["line"] for e in closed.entries] == ["old 0", "old 1"]
    store.mark_sent(KEY, "w-closed")
    assert store.close(KEY, "w-closed", now=3000.0) is None
