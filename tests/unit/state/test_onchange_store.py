"""On-change state: the same compare-and-set contract on DynamoDB (moto) and SQLite; SQLite's
per-Alert cap and sweep, DynamoDB's TTL attribute."""

from __future__ import annotations

import pytest

from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.onchange import DynamoOnChange, Mark, SqliteOnChange

NOW = 1_800_000_000.0
KEY = "flux-system/team|flux-system/team|prod|Kustomization/flux-system/apps"


def mark(state: str = "info/ReconciliationSucceeded", *, seen: float = NOW, by: str = "m1", **fields) -> Mark:
    return Mark(state=state, since=seen, notified=seen, by=by, decision="notify", seen=seen, **fields)


@pytest.fixture(params=["dynamodb", "sqlite"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return SqliteOnChange(SqliteDatabase(str(tmp_path / "serve.db")))
    return DynamoOnChange("state", request.getfixturevalue("dynamodb"))


def test_a_new_key_is_written_once_and_read_back(store):
    assert store.get(KEY, NOW) is None
    assert store.put(KEY, "flux-system/team", mark(), None, NOW + 3600) is True
    assert store.put(KEY, "flux-system/team", mark(by="m2"), None, NOW + 3600) is False  # it exists now
    assert store.get(KEY, NOW) == mark(version=1)


def test_compare_and_set_on_the_version(store):
    store.put(KEY, "a", mark(), None, NOW + 3600)
    error = mark("error/HealthCheckFailed", seen=NOW + 60, by="m2", failures=2)
    assert store.put(KEY, "a", error, 1, NOW + 3600) is True
    assert store.put(KEY, "a", mark(by="m3"), 1, NOW + 3600) is False  # lost: version 1 is gone
    assert store.get(KEY, NOW + 61) == Mark("error/HealthCheckFailed", NOW + 60, NOW + 60, 2, "m2", "notify",
                                             NOW + 60, 2)


def test_an_expired_mark_reads_as_none_and_is_replaced_as_new(store):
    store.put(KEY, "a", mark(), None, NOW + 100)
    assert store.get(KEY, NOW + 99) is not None
    assert store.get(KEY, NOW + 100) is None
    assert store.put(KEY, "a", mark("info/Progressing", seen=NOW + 100, by="m9"), None, NOW + 500) is True
    assert store.get(KEY, NOW + 101).state == "info/Progressing"


def test_keys_are_independent(store):
    other = KEY.replace("|prod|", "|staging|")
    assert store.put(KEY, "a", mark(), None, NOW + 3600)
    assert store.put(other, "a", mark("error/BuildFailed"), None, NOW + 3600)
    assert (store.get(KEY, NOW).state, store.get(other, NOW).state) == ("info/ReconciliationSucceeded",
                                                                        "error/BuildFailed")


def test_sqlite_keeps_at_most_max_tracked_objects_per_alert(tmp_path):
    database = SqliteDatabase(str(tmp_path / "serve.db"))
    store = SqliteOnChange(database, max_tracked=3)
    for index in range(5):
        assert store.put(f"a|p|c|K/ns/o{index}", "ns/a", mark(seen=NOW + index), None, NOW + 3600)
    store.put("b|p|c|K/ns/o0", "ns/b", mark(), None, NOW + 3600)
    rows = database.execute("SELECT key FROM onchange WHERE alert = 'ns/a' ORDER BY seen")
    assert [key for (key,) in rows] == ["a|p|c|K/ns/o2", "a|p|c|K/ns/o3", "a|p|c|K/ns/o4"]  # oldest forgotten
    assert database.execute("SELECT COUNT(*) FROM onchange WHERE alert = 'ns/b'") == [(1,)]


def test_sqlite_sweeps_expired_rows_on_a_later_write(tmp_path):
    database = SqliteDatabase(str(tmp_path / "serve.db"))
    store = SqliteOnChange(database)
    for index in range(4):
        store.put(f"k{index}", "ns/a", mark(), None, NOW + 10)
    store.put("fresh", "ns/a", mark(seen=NOW + 3600), None, NOW + 7200)
    assert database.execute("SELECT key FROM onchange") == [("fresh",)]


def test_dynamodb_item_is_small_and_carries_the_ttl(dynamodb):
    store = DynamoOnChange("state", dynamodb)
    store.put(KEY, "a", mark(), None, NOW + 8 * 86400)
    item = dynamodb.get_item(TableName="state", Key={"pk": {"S": f"onchange#{KEY}"}})["Item"]
    assert item["expires_at"] == {"N": str(int(NOW + 8 * 86400))}
    size = sum(len(name) + len(next(iter(value.values()))) for name, value in item.items())
    assert size < 400
