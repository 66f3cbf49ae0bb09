"""Issue 13.1: a duplicate key exists only for an event that was queued.

SQLite: the key and the message are one transaction. DynamoDB (moto): a claim with a
lease, the send, then the lease removed; a failed send deletes the key, an abandoned
claim (the receiver died between the writes) expires. Each case: the queue fails once,
then Flux's retry of the same event must be queued (202), not refused as a duplicate.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from fluxnotify.ingress.receiver import Receiver
from fluxnotify.model.event import clean_metadata, parse_event
from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue
from fluxnotify.queue.sqs import SqsQueue
from fluxnotify.state import dedup as dedup_module
from fluxnotify.state.dedup import DynamoDedup, SqliteDedup, dedup_key

EVENT = json.dumps({
    "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps",
                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
    "severity": "info", "timestamp": "2026-11-25T10:00:00Z", "message": "applied",
    "reason": "ReconciliationSucceeded", "reportingController": "kustomize-controller",
}).encode()


class FailingOnce:
    """A queue whose first send fails the way a disk, SQS or a crash would."""

    def __init__(self, queue, error: BaseException):
        self.queue, self.error, self.failed = queue, error, False

    def send(self, body: str, delay: int = 0) -> str:
        if not self.failed:
            self.failed = True
            raise self.error
        return self.queue.send(body, delay)


class Crash(BaseException):
    """Stands for the process dying between two lines (not an Exception: nothing catches it)."""


@pytest.fixture
def sqlite(tmp_path):
    db = SqliteDatabase(str(tmp_path / "q.db"))
    return db, SqliteQueue(db, "events"), SqliteDedup(db, 300)


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), ConnectionError("gone")])
def test_sqlite_failed_send_leaves_no_key(sqlite, error):
    db, queue, dedup = sqlite
    receiver = Receiver(FailingOnce(queue, error), dedup)
    assert receiver.handle("POST", "/", {}, EVENT).status == 503
    assert db.execute("SELECT COUNT(*) FROM dedup") == [(0,)]
    assert receiver.handle("POST", "/", {}, EVENT).status == 202
    assert queue.count() == 1
    assert receiver.handle("POST", "/", {}, EVENT).status == 429  # now it was queued: a duplicate


def test_sqlite_crash_between_key_and_message_rolls_both_back(sqlite, tmp_path):
    db, queue, dedup = sqlite
    receiver = Receiver(FailingOnce(queue, Crash()), dedup)
    with pytest.raises(Crash):
        receiver.handle("POST", "/", {}, EVENT)
    # Another process opening the file (a restart) sees neither the key nor a message.
    reopened = SqliteDatabase(str(tmp_path / "q.db"))
    assert reopened.execute("SELECT COUNT(*) FROM dedup") == [(0,)]
    assert Receiver(SqliteQueue(reopened), SqliteDedup(reopened, 300)).handle("POST", "/", {}, EVENT).status == 202


def test_input_that_cannot_be_serialised_is_400_and_leaves_no_key(sqlite):
    db, queue, dedup = sqlite
    lone_surrogate = EVENT.replace(b'"applied"', b'"applied \\ud800"')
    answer = Receiver(queue, dedup).handle("POST", "/", {}, lone_surrogate)
    assert answer.status == 400 and "surrogate" in json.loads(answer.body)["error"]
    assert db.execute("SELECT COUNT(*) FROM dedup") == [(0,)] and queue.count() == 0


def test_failing_duplicate_store_is_503_json(sqlite):
    class BrokenStore:
        def admit(self, key, enqueue, now=None):
            raise OSError("disk I/O error")

    answer = Receiver(sqlite[1], BrokenStore()).handle("POST", "/", {}, EVENT)
    assert answer.status == 503 and json.loads(answer.body)["status"] == 503


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        dynamo = boto3.client("dynamodb")
        dynamo.create_table(TableName="state", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        sqs = boto3.client("sqs")
        url = sqs.create_queue(QueueName="events")["QueueUrl"]
        yield dynamo, sqs, url


def items(dynamo) -> list[dict]:
    return dynamo.scan(TableName="state")["Items"]


def queued(sqs, url) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def test_dynamodb_failed_sqs_send_deletes_the_key(aws):
    dynamo, sqs, url = aws
    failing = sqs.exceptions.QueueDoesNotExist({"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue"}}, "Send")
    receiver = Receiver(FailingOnce(SqsQueue(url, sqs), failing), DynamoDedup("state", 300, dynamo))
    assert receiver.handle("POST", "/", {}, EVENT).status == 503
    assert items(dynamo) == []
    assert receiver.handle("POST", "/", {}, EVENT).status == 202
    assert receiver.handle("POST", "/", {}, EVENT).status == 429
    assert queued(sqs, url) == 1
    (item,) = items(dynamo)
    assert "lease_until" not in item  # confirmed once the message was sent


def test_dynamodb_real_sqs_outage_leaves_no_key(aws):
    dynamo, sqs, _ = aws
    missing = SqsQueue("https://sqs.eu-west-1.amazonaws.com/123456789012/deleted", sqs)
    answer = Receiver(missing, DynamoDedup("state", 300, dynamo)).handle("POST", "/", {}, EVENT)
    assert answer.status == 503
    assert items(dynamo) == []


def test_dynamodb_claim_abandoned_by_a_crash_expires(aws, monkeypatch):
    dynamo, sqs, url = aws
    store = DynamoDedup("state", 300, dynamo)
    def crash():
        raise Crash()

    with pytest.raises(Crash):
        store.admit("k", crash, now=1000.0)
    assert items(dynamo) == []  # released on the way out
    # A hard kill between the two writes leaves the claim behind: simulate exactly that.
    store._claim("k2", 1000.0, lease=True)
    # While the lease runs, the same event is not refused as a duplicate: 503, Flux retries.
    assert store.admit("k2", lambda: None, now=1001.0).pending
    after_lease = 1000.0 + dedup_module.LEASE_SECONDS + 1
    sent = []
    assert store.admit("k2", lambda: sent.append(1), now=after_lease).allowed
    assert sent == [1]
    assert not store.admit("k2", lambda: sent.append(2), now=after_lease + 1).allowed


def test_receiver_answers_503_while_the_same_event_is_being_queued(aws):
    dynamo, sqs, url = aws
    store = DynamoDedup("state", 300, dynamo)
    store._claim(dedup_key(clean_metadata(parse_event(EVENT))), time.time(), lease=True)
    answer = Receiver(SqsQueue(url, sqs), store).handle("POST", "/", {}, EVENT)
    assert answer.status == 503 and answer.headers["Retry-After"] == "1"
    assert queued(sqs, url) == 0
