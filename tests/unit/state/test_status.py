"""The status store: SQLite and DynamoDB (moto) record the same thing from real deliveries."""

from __future__ import annotations

import fixtures.status.status_fixtures as fx
import pytest

from fluxnotify.config.files import FileStore
from fluxnotify.delivery.dispatcher import Dispatcher, new_envelope
from fluxnotify.model.manifests import load_yaml
from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue
from fluxnotify.settings import Settings
from fluxnotify.state.status import (
    DAY,
    HOUR,
    Outcome,
    changes,
)
from fluxnotify.state.status_dynamo import DynamoStatus
from fluxnotify.state.status_sqlite import SqliteStatus
from fluxnotify.state.stores import Stores
from helpers import door


class CountingMetrics:
    def __init__(self):
        self.counts: list[str] = []

    def count(self, name, dimensions=None, value=1):
        self.counts.append(name)

    def milliseconds(self, name, value, dimensions=None):
        pass


@pytest.fixture
def db(tmp_path):
    database = SqliteDatabase(str(tmp_path / "status.db"))
    yield database
    database.close()


def run(sink, db, recorder, messages: int = 1, **options) -> Dispatcher:
    sink.handler = options.pop("answer", fx.answer)
    dispatcher = Dispatcher(FileStore(load_yaml(fx.manifests(sink.url))), SqliteQueue(db), SqliteQueue(db, "dead"),
                            Settings(**options), stores=Stores.memory(status=recorder))
    for _ in range(messages):
        dispatcher.handle(new_envelope(door(fx.event())).to_json())
    return dispatcher


def by_name(objects):
    return {(o.kind, o.key): o for o in objects}


def test_sqlite_records_a_good_and_a_failing_provider(sink, db):
    store = SqliteStatus(db)
    run(sink, db, store, messages=3)
    found = by_name(store.objects())
    good, bad = found[("Provider", "flux-system/good")], found[("Provider", "flux-system/bad")]
    assert (good.last_outcome, good.failing, good.provider_type) == ("delivered", False, "generic")
    assert good.last_hour == {"delivered": 3} and good.last_day == {"delivered": 3}
    assert (good.delivered_object, good.delivered_reason) == ("Kustomization/flux-system/apps",
                                                              "ReconciliationSucceeded")
    assert (bad.last_outcome, bad.failing) == ("dead-lettered", True)
    assert bad.last_hour == {"dead-lettered": 3}
    assert bad.last_error.endswith(fx.BAD_ERROR) and bad.delivered_at is None
    alert = found[("Alert", "flux-system/bad-alert")]
    assert (alert.last_outcome, alert.last_error) == ("dead-lettered", bad.last_error)
    recent = store.recent(50)
    assert len(recent) == 6
    assert {r["outcome"] for r in recent} == {"delivered", "dead-lettered"}


def test_a_retryable_failure_is_retrying_and_a_later_success_keeps_the_last_error(sink, db):
    store = SqliteStatus(db)
    run(sink, db, store, answer=lambda r: (503, {}, b"busy") if r.path == "/bad" else (200, {}, b"ok"))
    bad = by_name(store.objects())[("Provider", "flux-system/bad")]
    assert bad.last_outcome == "retrying" and "503" in bad.last_error
    run(sink, db, store)  # now /bad answers 400 … and /good 200; then everything succeeds
    run(sink, db, store, answer=lambda r: (200, {}, b"ok"))
    bad = by_name(store.objects())[("Provider", "flux-system/bad")]
    assert (bad.last_outcome, bad.failing) == ("delivered", False)
    assert bad.last_error.endswith(fx.BAD_ERROR)  # the last error stays visible
    assert bad.last_hour == {"retrying": 1, "dead-lettered": 1, "delivered": 1}


def test_counts_are_split_into_the_last_hour_and_the_last_day(db):
    store = SqliteStatus(db)
    now = 1_800_000_000.0

    def outcome(age: float, result: str = "delivered") -> Outcome:
        return Outcome(now - age, "ns/a", "ns/p", "slack", result, "", "Kustomization/ns/x", "Progressing")

    store.write([outcome(10), outcome(20, "retrying")])
    store.write([outcome(2 * HOUR)])
    store.write([outcome(DAY + HOUR)])  # too old for either window
    provider = by_name(store.objects(now=now))[("Provider", "ns/p")]
    assert provider.last_hour == {"delivered": 1, "retrying": 1}
    assert provider.last_day == {"delivered": 2, "retrying": 1}


def test_outcomes_of_one_message_are_merged_per_object():
    at = 1_800_000_000.0
    outcomes = [Outcome(at, f"ns/alert-{i}", "ns/shared", "slack", "delivered", "", "K/ns/x", "R") for i in range(3)]
    merged = {(c.kind, c.key): c for c in changes(outcomes)}
    assert len(merged) == 4  # one Provider, three Alerts
    assert sum(merged[("Provider", "ns/shared")].counts.values()) == 3
    failed = Outcome(at, "ns/alert-9", "ns/shared", "slack", "dead-lettered", "boom", "K/ns/x", "R")
    shared = {(c.kind, c.key): c for c in changes([outcomes[0], failed, outcomes[1]])}[("Provider", "ns/shared")]
    assert (shared.last.outcome, shared.error.detail) == ("dead-lettered", "boom")  # the failure shows
    assert shared.delivered is outcomes[1]


def test_a_failing_status_write_never_fails_or_repeats_a_delivery(sink, db, caplog):
    metrics = CountingMetrics()
    broken = SqliteDatabase(":memory:")
    store = SqliteStatus(broken, metrics=metrics)
    broken.close()  # every write now raises sqlite3.ProgrammingError
    dispatcher = run(sink, db, store)
    assert sorted(r.path for r in sink.requests) == ["/bad", "/good"]
    assert SqliteQueue(db).count() == 0  # nothing re-queued because of the status write
    assert metrics.counts == ["StatusWriteFailed"]
    assert "delivery status not recorded" in caplog.text
    assert dispatcher.status is store


def test_dynamodb_writes_one_plain_update_per_pair_and_message_and_reads_what_sqlite_reads(sink, db, dynamodb):
    calls: list[str] = []
    dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    both = [SqliteStatus(db), DynamoStatus("state", dynamodb)]

    class Both:
        def record(self, *args):
            for store in both:
                store.record(*args)

    run(sink, db, Both(), messages=2)
    # One UpdateItem per (Alert, Provider) pair and message, no transaction; the first write of
    # each pair's hour also reads its head (GetItem) and moves it on (UpdateItem).
    assert sorted(calls) == ["GetItem"] * 2 + ["UpdateItem"] * (2 * 2 + 2)
    local, aws = (by_name(store.objects()) for store in both)
    assert set(aws) == set(local) and len(aws) == 4
    for subject, status in local.items():
        assert aws[subject].as_dict() == status.as_dict(), subject
    items = dynamodb.scan(TableName="state")["Items"]
    assert all(item["pk"]["S"].startswith("status#") and "expires_at" in item for item in items)


def test_dynamodb_status_is_null_without_a_table(monkeypatch):
    monkeypatch.delenv("STATE_TABLE", raising=False)
    assert type(DynamoStatus.for_table(Settings.from_env().state_table)).__name__ == "NullRecorder"


def test_sqlite_records_the_cluster_and_an_alerts_provider(sink, db):
    store = SqliteStatus(db)
    sink.handler = fx.answer
    dispatcher = Dispatcher(FileStore(load_yaml(fx.manifests(sink.url))), SqliteQueue(db), SqliteQueue(db, "dead"),
                            Settings(), stores=Stores.memory(status=store))
    dispatcher.handle(new_envelope(door(fx.event()), cluster="prod-eu").to_json())
    found = by_name(store.objects())
    assert found[("Provider", "flux-system/good")].cluster == "prod-eu"
    alert = found[("Alert", "flux-system/bad-alert")]
    assert (alert.cluster, alert.provider) == ("prod-eu", "flux-system/bad")
    assert found[("Provider", "flux-system/bad")].provider == ""  # only Alerts name one
    assert {r["cluster"] for r in store.recent(10)} == {"prod-eu"}
    dispatcher.handle(new_envelope(door({**fx.event(), "message": "again"})).to_json())
    assert by_name(store.objects())[("Provider", "flux-system/good")].cluster == "default"  # the last one's


def test_since_lists_what_became_of_an_object_at_a_provider(sink, db):
    store = SqliteStatus(db)
    run(sink, db, store)
    (bad,) = store.since(0, "flux-system/bad", "Kustomization/flux-system/apps")
    assert bad[0] == "dead-lettered" and bad[1].endswith(fx.BAD_ERROR)
    assert store.since(4_000_000_000, "flux-system/bad", "Kustomization/flux-system/apps") == []


def test_a_status_file_of_an_older_serve_gets_the_new_columns(tmp_path):
    import sqlite3

    path = str(tmp_path / "old.db")
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE status_objects (kind TEXT NOT NULL, key TEXT NOT NULL, provider_type TEXT NOT NULL DEFAULT '',
            last_at REAL, last_outcome TEXT, last_detail TEXT, last_error TEXT, last_error_at REAL,
            delivered_at REAL, delivered_object TEXT, delivered_reason TEXT, PRIMARY KEY (kind, key));
        CREATE TABLE status_log (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, alert TEXT, provider TEXT,
            provider_type TEXT, outcome TEXT, detail TEXT, object TEXT, reason TEXT, attempt INTEGER);
        INSERT INTO status_objects VALUES ('Provider', 'ns/p', 'slack', 1.0, 'delivered', '', NULL, NULL,
            1.0, 'Kustomization/ns/a', 'Progressing');
        INSERT INTO status_log (at, alert, provider, provider_type, outcome, detail, object, reason, attempt)
            VALUES (1.0, 'ns/a', 'ns/p', 'slack', 'delivered', '', 'Kustomization/ns/a', 'Progressing', 1);
    """)
    old.commit()
    old.close()
    database = SqliteDatabase(path)
    try:
        store = SqliteStatus(database)
        (status,) = store.objects(now=2.0)
        assert (status.key, status.cluster, status.provider) == ("ns/p", "", "")
        assert store.recent(5)[0]["cluster"] == ""
        store.write([Outcome(at=3.0, alert="ns/a", provider="ns/p", provider_type="slack", outcome="delivered",
                             detail="", object="Kustomization/ns/a", reason="Progressing", cluster="c1")])
        assert by_name(store.objects(now=3.0))[("Alert", "ns/a")].cluster == "c1"
    finally:
        database.close()
