"""Fixed-window duplicate suppression (spec §2.6), SQLite and DynamoDB (moto)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.dedup import DynamoDedup, SqliteDedup, window_end


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        yield SqliteDedup(SqliteDatabase(str(tmp_path / "dedup.db")), interval=300)
        return
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="dedup", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        yield DynamoDedup("dedup", interval=300, client=client)


def test_fixed_window_anchored_at_first_sighting(store):
    t0 = 1_000_000.0
    assert store.take("k", t0).allowed
    refused = store.take("k", t0 + 10)
    assert not refused.allowed and refused.reset == t0 + 300
    assert not store.take("k", t0 + 299.9).allowed
    second_window = store.take("k", t0 + 450)
    assert second_window.allowed and second_window.reset == t0 + 600
    assert not store.take("k", t0 + 599).allowed
    assert store.take("other", t0 + 10).allowed


def test_key_unused_for_two_windows_starts_a_new_anchor(store):
    t0 = 2_000_000.0
    assert store.take("k", t0).allowed
    later = store.take("k", t0 + 700)  # window end t0+300, forgotten after another interval
    assert later.allowed and later.reset == t0 + 1000


def test_window_end_arithmetic():
    assert window_end(100.0, 10.0, 100.0) == 110.0
    assert window_end(100.0, 10.0, 125.0) == 130.0
