"""BatchedStatus and DynamoStatus on moto: one write per pair and invocation, exact counts
from concurrent writers, the newest last-* fields whatever the order, never a raise."""

from __future__ import annotations

import threading
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from statetable import create_state_table

from fluxnotify.state.status import DELIVERED, RETRYING, Outcome, changes
from fluxnotify.state.status_batch import BatchedStatus
from fluxnotify.state.status_dynamo import DynamoStatus

NOW = 1_800_000_000.0  # within an hour from its start: one count item per object
PROVIDERS = ("ns/slack", "ns/teams", "ns/audit")


class CountingMetrics:
    def __init__(self):
        self.counts: dict[str, float] = {}

    def count(self, name, dimensions=None, value=1):
        self.counts[name] = self.counts.get(name, 0) + value

    def milliseconds(self, name, value, dimensions=None):
        pass


@pytest.fixture
def dynamodb(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    from moto.core.botocore_stubber import BotocoreStubber

    lock, process = threading.Lock(), BotocoreStubber.process_request

    def one_at_a_time(self, request):  # moto's tables are not thread-safe; DynamoDB's items are
        with lock:
            return process(self, request)

    with mock_aws(), mock.patch.object(BotocoreStubber, "process_request", one_at_a_time):
        client = boto3.client("dynamodb")
        create_state_table(client)
        yield client


def outcome(provider: str, at: float = NOW + 10, result: str = DELIVERED, detail: str = "") -> Outcome:
    return Outcome(at=at, alert=f"{provider}-alert", provider=provider, provider_type="generic", outcome=result,
                   detail=detail, object="Kustomization/ns/app", reason="ReconciliationSucceeded")


def writes(client) -> list[str]:
    seen: list[str] = []
    client.meta.events.register("before-parameter-build.dynamodb",
                                lambda model, params, **_: seen.append(f"{model.name} {params.get('Key', {})}"))
    return seen


def test_a_batch_of_ten_messages_writes_each_item_once_with_every_count(dynamodb):
    status = BatchedStatus(DynamoStatus("state", dynamodb))
    seen = writes(dynamodb)
    for n in range(10):
        status.add([outcome(p, NOW + n) for p in PROVIDERS])
    assert seen == []  # nothing written before the flush
    status.flush(timeout=10)
    # One UpdateItem per (Alert, Provider) pair; the first write of a pair's hour also reads
    # and moves its head (GetItem + UpdateItem), once per hour.
    hour_writes = [call for call in seen if call.startswith("UpdateItem") and call.count("#") == 4]
    assert len(hour_writes) == 3 and len(seen) == 3 * 3
    seen.clear()
    status.add([outcome(p, NOW + 20) for p in PROVIDERS])
    status.flush(timeout=10)
    assert len(seen) == 3 and all(call.startswith("UpdateItem") for call in seen)  # the same hour: 1 write a pair
    shown = {(s.kind, s.key): s for s in DynamoStatus("state", dynamodb).objects(now=NOW + 60)}
    assert {key: s.last_hour.get(DELIVERED) for key, s in shown.items()} == {
        **{("Provider", p): 11 for p in PROVIDERS}, **{("Alert", f"{p}-alert"): 11 for p in PROVIDERS}}
    assert shown[("Provider", "ns/slack")].last_at == NOW + 20


def test_two_invocations_of_ten_concurrent_records_count_exactly(dynamodb):
    """Two environments' buffers, ten threads each recording, both flushing at once, three
    rounds: the counts are the deliveries, the last attempt is the newest."""
    stores = [BatchedStatus(DynamoStatus("state", dynamodb)) for _ in range(2)]
    def one(store: BatchedStatus, at: float) -> None:
        store.add([outcome(p, at) for p in PROVIDERS])

    for round_ in range(3):
        threads = [threading.Thread(target=one, args=(store, NOW + round_ * 10 + n)) for store in stores
                   for n in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        flushes = [threading.Thread(target=store.flush, args=(10,)) for store in stores]
        for thread in flushes:
            thread.start()
        for thread in flushes:
            thread.join()
    shown = {(s.kind, s.key): s for s in DynamoStatus("state", dynamodb).objects(now=NOW + 60)}
    assert {key: s.last_hour for key, s in shown.items()} == {
        **{("Provider", p): {DELIVERED: 60} for p in PROVIDERS},
        **{("Alert", f"{p}-alert"): {DELIVERED: 60} for p in PROVIDERS}}
    assert {s.last_at for s in shown.values()} == {NOW + 29}


def test_an_older_write_keeps_every_newer_field_and_sets_the_older_ones(dynamodb):
    """Flushes land in any order: each of last attempt, last error and last delivered is
    set only over an older value (one conditional write, each part on its own when needed)."""
    store = DynamoStatus("state", dynamodb)
    store.write([outcome("ns/slack", NOW + 50, RETRYING, "HTTP 503")])  # newer: attempt and error
    seen = writes(dynamodb)
    store.write([outcome("ns/slack", NOW + 20, DELIVERED), outcome("ns/slack", NOW + 30, RETRYING, "HTTP 500")])
    assert len(seen) == 1 + 1 + 3  # the pair: the refused write, the counts, each part on its own
    (provider,) = [s for s in store.objects(now=NOW + 60) if s.kind == "Provider"]
    assert (provider.last_at, provider.last_outcome, provider.last_error) == (NOW + 50, RETRYING, "HTTP 503")
    assert provider.delivered_at == NOW + 20  # none stored before: the older write sets it
    assert provider.last_hour == {DELIVERED: 1, RETRYING: 2}
    store.write([outcome("ns/slack", NOW + 55, RETRYING, "HTTP 502")])
    (provider,) = [s for s in store.objects(now=NOW + 60) if s.kind == "Provider"]
    assert (provider.last_at, provider.last_error, provider.delivered_at) == (NOW + 55, "HTTP 502", NOW + 20)


def test_merged_changes_keep_the_newest_delivery_and_error_whatever_the_order():
    (change, _alert) = changes([outcome("ns/a", NOW + 9), outcome("ns/a", NOW + 3),
                                outcome("ns/a", NOW + 8, RETRYING, "late"), outcome("ns/a", NOW + 2, RETRYING, "x")])
    assert (change.last.at, change.delivered.at, change.error.detail) == (NOW + 9, NOW + 9, "late")


def test_a_failed_write_is_counted_and_never_raises(dynamodb):
    metrics = CountingMetrics()
    status = BatchedStatus(DynamoStatus("missing-table", dynamodb), metrics)
    status.add([outcome(p) for p in PROVIDERS])
    status.flush(timeout=10)
    assert metrics.counts == {"StatusWriteFailed": 3}  # one per pair


def test_writes_not_done_in_time_are_counted_and_the_flush_returns(dynamodb):
    release = threading.Event()

    class Slow:
        def write_change(self, change):
            release.wait(5)

    metrics = CountingMetrics()
    status = BatchedStatus(Slow(), metrics)
    status.add([outcome("ns/slack")])
    status.flush(timeout=0.05)
    release.set()
    assert metrics.counts == {"StatusWriteFailed": 2}


def test_a_bad_result_is_counted_and_never_raises():
    metrics = CountingMetrics()
    status = BatchedStatus(DynamoStatus("state", client=object()), metrics)
    status.record(None, None, [object()])  # outcomes_of cannot read it
    assert metrics.counts == {"StatusWriteFailed": 1}


def test_a_pair_quiet_for_days_still_shows_its_last_error_and_delivery(dynamodb):
    """The hour items of the last day are listed; an older pair's newest hour item is read
    through its head, which carries the fields of the hours before it."""
    store = DynamoStatus("state", dynamodb)
    store.write([outcome("ns/slack", NOW + 10, RETRYING, "HTTP 503")])
    store.write([outcome("ns/slack", NOW + 2 * 3600, DELIVERED)])  # a new hour: the head moves on
    store.write([outcome("ns/slack", NOW + 2 * 3600 + 60, DELIVERED)])
    three_days_later = NOW + 3 * 86400
    shown = {(s.kind, s.key): s for s in store.objects(now=three_days_later)}
    for key in (("Provider", "ns/slack"), ("Alert", "ns/slack-alert")):
        status = shown[key]
        assert (status.last_at, status.last_outcome, status.delivered_at) == (NOW + 2 * 3600 + 60, DELIVERED,
                                                                              NOW + 2 * 3600 + 60)
        assert (status.last_error_at, status.last_error) == (NOW + 10, "HTTP 503")
        assert status.last_day == {} and status.failing is False


def test_a_provider_shared_by_alerts_sums_its_pairs_and_shows_the_newest(dynamodb):
    store = DynamoStatus("state", dynamodb)
    shared = [Outcome(at=NOW + n, alert=f"ns/alert-{n % 3}", provider="ns/shared", provider_type="slack",
                      outcome=RETRYING if n == 7 else DELIVERED, detail="HTTP 500" if n == 7 else "",
                      object=f"Kustomization/ns/app-{n}", reason="Progressing") for n in range(9)]
    store.write(shared)
    shown = {(s.kind, s.key): s for s in store.objects(now=NOW + 60)}
    provider = shown[("Provider", "ns/shared")]
    assert provider.last_hour == {DELIVERED: 8, RETRYING: 1}
    assert (provider.last_at, provider.last_outcome, provider.provider_type) == (NOW + 8, DELIVERED, "slack")
    assert (provider.last_error, provider.delivered_object) == ("HTTP 500", "Kustomization/ns/app-8")
    assert shown[("Alert", "ns/alert-1")].last_hour == {DELIVERED: 2, RETRYING: 1}
    assert shown[("Alert", "ns/alert-1")].last_outcome == RETRYING  # its newest (n = 7)
