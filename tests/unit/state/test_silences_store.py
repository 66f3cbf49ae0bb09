"""Silences: the same contract on DynamoDB (moto) and SQLite, the bounds, the cached view."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state import silences as s
from fluxnotify.state.silences import (
    ActiveSilences,
    DynamoSilences,
    SilenceError,
    SqliteSilences,
    added,
    expired,
    new_silence,
    parse_matchers,
    read_sqlite_file,
)

NOW = 1_800_000_000.0


@pytest.fixture(params=["dynamodb", "sqlite"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield SqliteSilences(SqliteDatabase(str(tmp_path / "serve.db")))
        return
    yield DynamoSilences("state", request.getfixturevalue("dynamodb"))


def _silence(name="web-*", hours=2.0, now=NOW, comment="migration"):
    return new_silence(parse_matchers([f"kind=Kustomization,namespace=apps,name={name}"]), "", now + hours * 3600,
                       comment, now=now)


def test_added_silences_are_read_back_and_expire(store):
    one, two = _silence(), _silence("api")
    store.change(lambda current: added(current, one, NOW))
    store.change(lambda current: added(current, two, NOW))
    assert {x.id for x in store.load()} == {one.id, two.id}
    assert store.load()[0].matchers == (("kind", "Kustomization"), ("namespace", "apps"), ("name", one.matchers[2][1]))
    store.change(lambda current: expired(current, one.id, NOW + 60))
    by_id = {x.id: x for x in store.load()}
    assert by_id[one.id].ends_at == NOW + 60 and not by_id[one.id].active(NOW + 61)
    assert by_id[two.id].active(NOW + 61) and by_id[two.id].comment == "migration"
    with pytest.raises(SilenceError, match="ended already"):
        store.change(lambda current: expired(current, one.id, NOW + 120))
    with pytest.raises(SilenceError, match="no silence 'nope'"):
        store.change(lambda current: expired(current, "nope", NOW + 120))


def test_a_failed_edit_changes_nothing(store):
    store.change(lambda current: added(current, _silence(), NOW))

    def broken(current):
        raise SilenceError("refused")

    with pytest.raises(SilenceError):
        store.change(broken)
    assert len(store.load()) == 1


def test_the_number_of_silences_is_bounded(store):
    silences = [_silence(f"app-{i}", now=NOW) for i in range(s.MAX_SILENCES)]
    store.change(lambda current: silences)
    with pytest.raises(SilenceError, match="100 silences are active"):
        store.change(lambda current: added(current, _silence("one-more"), NOW))
    later = NOW + 3 * 3600  # every one of them has ended: the oldest ended ones make room
    store.change(lambda current: added(current, _silence("fresh", now=later), later))
    assert len(store.load()) == s.MAX_SILENCES
    much_later = later + s.RETENTION + 3 * 3600  # ended more than RETENTION ago: gone
    store.change(lambda current: added(current, _silence("last", now=much_later), much_later))
    assert [x.matchers[2][1] for x in store.load()] == ["last"]


def test_the_dynamodb_item_has_a_ttl_after_the_last_end(store):
    if not isinstance(store, DynamoSilences):
        pytest.skip("DynamoDB only")
    silence = _silence(hours=5)
    store.change(lambda current: added(current, silence, NOW))
    item = store.client.get_item(TableName="state", Key={"pk": {"S": "silences#list"}})["Item"]
    assert int(item["expires_at"]["N"]) == int(silence.ends_at + s.RETENTION)
    assert item["version"]["N"] == "1"


def test_concurrent_writers_lose_nothing(store):
    made = [_silence(f"w{i}") for i in range(4)]
    if isinstance(store, DynamoSilences):  # one request at a time, as DynamoDB applies them (moto's
        store.client = _Serialized(store.client)  # in-process tables are not thread-safe)
    errors = []

    def add(silence):
        try:
            store.change(lambda current: added(current, silence, NOW))
        except Exception as err:  # noqa: BLE001 — collected for the assertion below
            errors.append(err)

    threads = [threading.Thread(target=add, args=(x,)) for x in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and {x.id for x in store.load()} == {x.id for x in made}


@pytest.mark.parametrize("texts,message", [
    (["colour=red"], "KEY one of kind, namespace, name, reason"),
    (["name"], "expected KEY=GLOB"),
    (["name=a", "name=b"], "name given twice"),
    (["name="], "1 to 253 characters"),
    (["name=" + "x" * 254], "1 to 253 characters"),
])
def test_bad_matchers_are_refused_naming_the_field(texts, message):
    with pytest.raises(SilenceError, match=message):
        parse_matchers(texts)


def test_matchers_accept_quotes_and_repeated_flags():
    assert parse_matchers(["name='web-*'", "namespace=apps, reason=Health*"]) == (
        ("namespace", "apps"), ("name", "web-*"), ("reason", "Health*"))


@pytest.mark.parametrize("kwargs,message", [
    ({"matchers": (), "cluster": ""}, "needs --match or --cluster"),
    ({"ends_at": NOW - 1}, "not in the future"),
    ({"ends_at": NOW + s.MAX_SECONDS + 60}, "at most 90 days"),
    ({"comment": "x" * 501}, "--comment: at most 500"),
])
def test_bad_silences_are_refused(kwargs, message):
    args = {"matchers": (("name", "web"),), "cluster": "", "ends_at": NOW + 60, "comment": "", "now": NOW} | kwargs
    with pytest.raises(SilenceError, match=message):
        new_silence(**args)


def test_a_cluster_alone_is_a_silence():
    assert new_silence((), "prod", NOW + 60, now=NOW).describe() == "cluster=prod"


class _Serialized:
    def __init__(self, client):
        self.client, self.exceptions, self.lock = client, client.exceptions, threading.Lock()

    def __getattr__(self, name):
        call = getattr(self.client, name)

        def locked(**kwargs):
            with self.lock:
                return call(**kwargs)

        return locked


class _CountingStore:
    def __init__(self, silences, fail=False):
        self.silences, self.fail, self.reads = silences, fail, 0

    def load(self):
        self.reads += 1
        if self.fail:
            raise OSError("store down")
        return list(self.silences)


def test_the_view_reads_the_store_at_most_once_per_refresh():
    clock = [NOW]
    store = _CountingStore([_silence(), replace(_silence(), ends_at=NOW - 1)])  # the second: ended
    view = ActiveSilences(store, 30.0, clock=lambda: clock[0])
    for _ in range(1000):
        assert len(view.active()) == 1
    assert store.reads == 1
    clock[0] += 30
    view.active()
    assert store.reads == 2
    clock[0] = NOW + 2 * 3600  # the silence ended: no longer active, whatever the cache holds
    assert view.active() == []


def test_a_failed_read_keeps_the_last_list(caplog):
    clock = [NOW]
    store = _CountingStore([_silence()])
    view = ActiveSilences(store, 30.0, clock=lambda: clock[0])
    assert len(view.active()) == 1
    store.fail, clock[0] = True, NOW + 60
    assert len(view.active()) == 1
    assert "could not read the silences" in caplog.text
    assert ActiveSilences(_CountingStore([], fail=True), 30.0).active() == []


def test_render_reads_a_serve_database_read_only(tmp_path):
    path = str(tmp_path / "serve.db")
    SqliteSilences(SqliteDatabase(path)).change(lambda current: added(current, _silence(now=time.time()), time.time()))
    assert len(read_sqlite_file(path)) == 1
    bare = str(tmp_path / "bare.db")
    SqliteDatabase(bare)  # a serve database from before silences: no table
    assert read_sqlite_file(bare) == []
