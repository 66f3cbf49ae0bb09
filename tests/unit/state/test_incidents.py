"""Open-incident markers (state/incidents.py): SQLite and DynamoDB (moto), bounds and expiry."""

from __future__ import annotations

import pytest

from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state import incidents
from fluxnotify.state.incidents import MAX_ENTRIES, MAX_ENTRY_BYTES, DynamoIncidents, SqliteIncidents


@pytest.fixture(params=["sqlite", "dynamo"])
def store(request, tmp_path):
    if request.param == "sqlite":
        return SqliteIncidents(SqliteDatabase(str(tmp_path / "state.db")))
    return DynamoIncidents("state", request.getfixturevalue("dynamodb"))


def test_open_entries_are_kept_per_key_until_cleared(store):
    assert store.opened("p#a#c#K/ns/x", now=100) == []
    assert store.open("p#a#c#K/ns/x", "one", {"alias": "one"}, now=100)
    assert store.open("p#a#c#K/ns/x", "two", {"alias": "two"}, now=101)
    assert store.open("p#a#c#K/ns/x", "one", {"alias": "one"}, now=102)  # the same incident again
    assert store.open("p#a#c#K/ns/y", "three", {"alias": "three"}, now=102)
    assert store.opened("p#a#c#K/ns/x", now=103) == [{"alias": "two"}, {"alias": "one"}]
    store.clear("p#a#c#K/ns/x")
    assert store.opened("p#a#c#K/ns/x", now=104) == []
    assert store.opened("p#a#c#K/ns/y", now=104) == [{"alias": "three"}]


def test_markers_expire_after_their_ttl(store):
    store.open("k", "e", {"alias": "e"}, ttl=60, now=1000)
    assert store.opened("k", now=1059) == [{"alias": "e"}]
    assert store.opened("k", now=1061) == []


def test_a_marker_keeps_the_newest_entries_within_its_bound(store):
    for number in range(MAX_ENTRIES + 5):
        store.open("k", f"e{number:02d}", {"alias": f"e{number:02d}"}, now=1000 + number)
    kept = [entry["alias"] for entry in store.opened("k", now=2000)]
    assert kept == [f"e{n:02d}" for n in range(5, MAX_ENTRIES + 5)]


def test_an_entry_over_its_size_bound_is_not_kept(store):
    assert store.open("k", "big", {"labels": {"x": "y" * MAX_ENTRY_BYTES}}, now=1) is False
    assert store.opened("k", now=2) == []


def test_sqlite_keeps_at_most_max_rows_dropping_the_oldest(tmp_path, monkeypatch):
    monkeypatch.setattr(incidents, "MAX_ROWS", 50)
    store = SqliteIncidents(SqliteDatabase(str(tmp_path / "state.db")))
    for number in range(120):
        store.open(f"k{number}", "e", {"alias": str(number)}, now=1000 + number)
    rows = store.db.execute("SELECT COUNT(*) FROM incidents")[0][0]
    assert rows == 50
    assert store.opened("k119", now=1200) == [{"alias": "119"}] and store.opened("k0", now=1200) == []


def test_dynamo_items_carry_the_ttl_attribute(dynamodb):
    DynamoIncidents("state", dynamodb).open("k", "e", {"alias": "e"}, ttl=3600, now=1000)
    item = dynamodb.get_item(TableName="state", Key={"pk": {"S": "incident#k"}})["Item"]
    assert item["expires_at"] == {"N": "4600"} and "e_e" in item


def test_a_full_dynamo_marker_stays_below_the_item_limit(dynamodb):
    store = DynamoIncidents("state", dynamodb)
    big = "v" * (MAX_ENTRY_BYTES - 200)  # moto refuses items over DynamoDB's 400 KB
    for number in range(MAX_ENTRIES + 4):
        assert store.open("k", f"e{number:02d}", {"labels": {"x": big, "n": str(number)}}, now=1000 + number)
    kept = store.opened("k", now=2000)
    assert [e["labels"]["n"] for e in kept] == [str(n) for n in range(4, MAX_ENTRIES + 4)]
