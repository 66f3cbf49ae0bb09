"""The delivery ledger, the same contract on DynamoDB (moto) and SQLite."""

from __future__ import annotations

import pytest

from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.ledger import DynamoLedger, SqliteLedger


@pytest.fixture(params=["dynamodb", "sqlite"])
def ledger(request, tmp_path):
    if request.param == "sqlite":
        yield SqliteLedger(SqliteDatabase(str(tmp_path / "serve.db")))
        return
    yield DynamoLedger("state", request.getfixturevalue("dynamodb"))


def test_delivered_targets_are_returned_to_every_later_step(ledger):
    assert ledger.begin("m1", ":1", "sqs-1") == set()
    ledger.delivered("m1", ["ns/a"])
    ledger.delivered("m1", ["ns/a"])
    ledger.delivered("m1", ["ns/b"])
    assert ledger.begin("m1", ":1", "sqs-1") == {"ns/a", "ns/b"}  # the same queue message, redelivered
    assert ledger.begin("m1", ":2", "sqs-2") == {"ns/a", "ns/b"}  # its follow-up
    assert ledger.begin("m2", ":1", "sqs-3") == set()


def test_a_second_copy_of_a_step_is_refused(ledger):
    assert ledger.begin("m1", ":2", "sqs-2") == set()
    assert ledger.begin("m1", ":2", "sqs-2b") is None
    assert ledger.begin("m1", "replay-1:2", "sqs-9") == set()  # another chain


def test_a_completed_step_is_refused_even_to_its_owner(ledger):
    assert ledger.begin("m1", ":1", "sqs-1") == set()
    ledger.complete("m1", ":1")
    assert ledger.begin("m1", ":1", "sqs-1") is None


def test_entries_carry_a_ttl(ledger):
    ledger.begin("m1", ":1", "sqs-1")
    ledger.delivered("m1", ["ns/a"])
    if isinstance(ledger, DynamoLedger):
        item = ledger.client.get_item(TableName="state", Key={"pk": {"S": "ledger#m1"}})["Item"]
        assert int(item["expires_at"]["N"]) > 0
    else:
        rows = ledger.db.execute("SELECT expires_at FROM ledger_delivered")
        assert rows and rows[0][0] > 0


def test_a_read_only_begin_sees_deliveries_and_completion(ledger):
    assert ledger.begin("m1", ":1", "sqs-1", claim=False) == set()
    ledger.delivered("m1", ["ns/a"])
    assert ledger.begin("m1", ":1", "sqs-1", claim=False) == {"ns/a"}
    ledger.complete("m1", ":1")
    assert ledger.begin("m1", ":1", "sqs-1", claim=False) is None


def test_one_write_records_every_target_of_a_fan_out(ledger):
    ledger.delivered("m1", ["ns/a", "ns/b", "ns/a"])
    ledger.delivered("m1", [])  # nothing delivered: nothing written
    assert ledger.begin("m1", ":1", "sqs-1", claim=False) == {"ns/a", "ns/b"}
