"""Issue 13.1: a duplicate key exists only for an event that was queued.

SQLite: the key and the message are one transaction. DynamoDB (moto): the key is written
once in its final form, then the message sent; a failed send deletes the key (or puts back
the window it replaced) before the 503. Each case: the queue fails once, then Flux's retry
of the same event must be queued (202), not refused as a duplicate.
"""

from __future__ import annotations

import json
import threading

import boto3
import pytest
from moto import mock_aws
from statetable import create_state_table

from fluxnotify.ingress.receiver import Receiver
from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue
from fluxnotify.queue.sqs import SqsQueue
from fluxnotify.state.dedup import DynamoDedup, SqliteDedup

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
        create_state_table(dynamo)  # as template.yaml defines it
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
    assert set(item) == {"pk", "first_seen", "window_end", "expires_at", "claim"}  # final at once


def test_dynamodb_real_sqs_outage_leaves_no_key(aws):
    dynamo, sqs, _ = aws
    missing = SqsQueue("https://sqs.eu-west-1.amazonaws.com/123456789012/deleted", sqs)
    answer = Receiver(missing, DynamoDedup("state", 300, dynamo)).handle("POST", "/", {}, EVENT)
    assert answer.status == 503
    assert items(dynamo) == []


def test_dynamodb_crash_in_the_send_deletes_the_key(aws):
    dynamo, _, _ = aws
    store = DynamoDedup("state", 300, dynamo)

    def crash():
        raise Crash()

    with pytest.raises(Crash):
        store.admit("k", crash, now=1000.0)
    assert items(dynamo) == []
    sent: list[int] = []
    assert store.admit("k", lambda: sent.append(1), now=1001.0).allowed
    assert not store.admit("k", lambda: sent.append(2), now=1002.0).allowed
    assert sent == [1]


def test_dynamodb_failed_send_in_a_later_window_puts_the_earlier_window_back(aws):
    dynamo, _, _ = aws
    store = DynamoDedup("state", 300, dynamo)
    assert store.admit("k", lambda: None, now=1000.0).allowed
    before = items(dynamo)
    with pytest.raises(ConnectionError):
        store.admit("k", lambda: FailingOnce(None, ConnectionError("gone")).send(""), now=1450.0)
    assert items(dynamo) == before  # window [1000, 1300) again: the retry opens [1300, 1600)
    retried = store.admit("k", lambda: None, now=1451.0)
    assert retried.allowed and retried.reset == 1600.0
    assert not store.admit("k", lambda: None, now=1452.0).allowed


class Gate:
    """A send that waits until told to finish (succeed or fail): a copy arrives meanwhile."""

    def __init__(self, fail: bool):
        self.fail, self.entered, self.go = fail, threading.Event(), threading.Event()

    def send(self) -> None:
        self.entered.set()
        assert self.go.wait(10)
        if self.fail:
            raise ConnectionError("SQS answered 500")


@pytest.mark.parametrize("fail", [False, True])
def test_dynamodb_copy_arriving_while_the_first_is_queued(aws, fail):
    """The second copy is refused (429) while the first is still being sent. If that send then
    fails, the key is gone before the first copy's 503, so the retry of the event is admitted:
    a failed send cannot lose both copies."""
    dynamo, _, _ = aws
    store, gate = DynamoDedup("state", 300, dynamo), Gate(fail)
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            outcome["first"] = store.admit("k", gate.send).allowed
        except ConnectionError:
            outcome["first"] = "503"

    thread = threading.Thread(target=first)
    thread.start()
    assert gate.entered.wait(10)
    second = store.admit("k", lambda: pytest.fail("a duplicate must not be queued"))
    assert not second.allowed  # 429 while the first is in flight
    assert len(items(dynamo)) == 1
    gate.go.set()
    thread.join(10)
    if fail:
        assert outcome["first"] == "503" and items(dynamo) == []
        sent: list[int] = []
        assert store.admit("k", lambda: sent.append(1)).allowed and sent == [1]  # Flux's retry
    else:
        assert outcome["first"] is True and len(items(dynamo)) == 1


def test_dynamodb_one_conditional_write_per_new_event(aws):
    dynamo, _, _ = aws
    calls: list[str] = []
    dynamo.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    store = DynamoDedup("state", 300, dynamo)
    assert store.admit("k", lambda: None, now=1000.0).allowed
    assert calls == ["PutItem"]
    assert not store.admit("k", lambda: None, now=1001.0).allowed  # the refused write returns the key
    assert calls == ["PutItem", "PutItem"]
