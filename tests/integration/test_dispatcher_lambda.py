"""The DispatcherFunction handler against moto (SQS, DynamoDB ledger, SSM config) and real
HTTP servers: concurrent records, the invocation deadline, redeliveries through the
ledger, malformed SQS events, EMF per invocation."""

from __future__ import annotations

import importlib.util
import json
import logging
import socket
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from statetable import create_state_table

from fluxnotify.delivery.batch import REPLAYED
from fluxnotify.queue.messages import Envelope

ROOT = Path(__file__).resolve().parents[2]
EVENT = json.loads((ROOT / "events" / "bodies" / "kustomization-reconciled.json").read_text())


class FakeContext:
    function_name = "fluxnotify-dispatcher"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:fluxnotify-dispatcher"
    aws_request_id = "req-1"

    def __init__(self, seconds: float = 120.0):
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.ends - time.monotonic()) * 1000))


class SilentServer:
    """Accepts connections and never answers."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                self.held.append(self.socket.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.socket.close()
        for conn in self.held:
            conn.close()


def provider(name: str, address: str, timeout: str = "5s") -> dict:
    return {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"type": "generic", "address": address, "timeout": timeout}}


def alert(name: str, provider_name: str, object_name: str) -> dict:
    return {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"providerRef": {"name": provider_name},
                     "eventSources": [{"kind": "Kustomization", "name": object_name}]}}


@pytest.fixture
def silent():
    server = SilentServer()
    yield server
    server.close()


@pytest.fixture
def aws(monkeypatch, sink, silent):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="events")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
        create_state_table(boto3.client("dynamodb"))
        ssm = boto3.client("ssm")
        objects = [provider("a", f"{sink.url}/a"), provider("b", f"{sink.url}/b"),
                   provider("silent", silent.url, timeout="30s"),
                   alert("to-a", "a", "*"), alert("to-b", "b", "pair"), alert("to-silent", "silent", "silent")]
        for obj in objects:
            ssm.put_parameter(Name=f"/fluxnotify/flux-system/{obj['kind']}/{obj['metadata']['name']}",
                              Type="String", Value=json.dumps(obj))
        for key, value in {"QUEUE_URL": queue, "DLQ_URL": dlq, "STATE_TABLE": "state", "CONFIG_PREFIX": "/fluxnotify",
                           "SECRETS_PREFIX": "fluxnotify", "RETRY_BASE_SECONDS": "0"}.items():
            monkeypatch.setenv(key, value)
        spec = importlib.util.spec_from_file_location("dispatcher_app_test", ROOT / "functions/dispatcher/app.py")
        handler = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(handler)
        yield {"sqs": sqs, "queue": queue, "dlq": dlq, "handler": handler}


def record(body: str, message_id: str | None = None) -> dict:
    return {"messageId": message_id or str(uuid.uuid4()), "receiptHandle": "r", "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "eventSource": "aws:sqs", "awsRegion": "eu-west-1"}


def again(one: dict) -> dict:
    """The same record redelivered by SQS: its ApproximateReceiveCount goes up."""
    count = int(one["attributes"]["ApproximateReceiveCount"]) + 1
    return {**one, "attributes": {**one["attributes"], "ApproximateReceiveCount": str(count)}}


def message(name: str = "apps", **fields) -> str:
    event = {**EVENT, "involvedObject": {**EVENT["involvedObject"], "name": name}}
    return Envelope(event=event, **fields).to_json()


def invoke(aws, records: list[dict], seconds: float = 120.0) -> dict:
    return aws["handler"].lambda_handler({"Records": records}, FakeContext(seconds))


def drain(aws, url_key: str = "queue") -> list[dict]:
    found = []
    while messages := aws["sqs"].receive_message(QueueUrl=aws[url_key], MaxNumberOfMessages=10).get("Messages"):
        for m in messages:
            found.append(record(m["Body"], m["MessageId"]))
            aws["sqs"].delete_message(QueueUrl=aws[url_key], ReceiptHandle=m["ReceiptHandle"])
    return found


def accepted(sink, path: str) -> int:
    return sum(1 for r in sink.requests if r.path == path and r.json().get("status_code", 200) == 200)


# --- concurrency and the deadline -----------------------------------------------------------


def test_records_of_a_batch_are_delivered_concurrently(aws, sink):
    barrier = threading.Barrier(10, timeout=5)  # breaks unless all ten requests are in flight together

    def answer(_request):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return 500, {}, b"not concurrent"
        return 200, {}, b"ok"

    sink.handler = answer
    assert invoke(aws, [record(message(f"app-{i}")) for i in range(10)]) == {"batchItemFailures": []}
    assert not barrier.broken
    assert len(sink.requests) == 10
    assert drain(aws) == []


def test_records_that_cannot_finish_before_the_deadline_are_left_untouched(aws, sink, silent):
    stuck = [record(message("silent")) for _ in range(3)]
    fine = [record(message("apps")) for _ in range(2)]
    started = time.monotonic()
    answer = invoke(aws, stuck + fine, seconds=1.5)
    assert time.monotonic() - started < 1.5  # returned before the (fake) function timeout
    assert sorted(f["itemIdentifier"] for f in answer["batchItemFailures"]) == sorted(r["messageId"] for r in stuck)
    assert len(sink.requests) == 5  # every record's delivery to "a" (in the ledger)
    assert drain(aws) == [] and drain(aws, "dlq") == []  # no follow-up for the abandoned records
    invoke(aws, [again(stuck[0])], seconds=1.0)  # redelivered: only the delivery that did not finish is tried
    assert len(sink.requests) == 5


# --- redeliveries and the ledger ---------------------------------------------------------------


def test_the_same_message_twice_sends_nothing_twice_and_one_retry_chain(aws, sink):
    sink.handler = lambda r: (503, {}, b"busy") if r.path == "/b" else (200, {}, b"ok")
    first = record(message("pair"))
    assert invoke(aws, [first]) == {"batchItemFailures": []}
    assert invoke(aws, [again(first)]) == {"batchItemFailures": []}  # redelivered after it was handled
    follow_ups = drain(aws)
    assert len(follow_ups) == 1 and json.loads(follow_ups[0]["body"])["targets"] == ["flux-system/to-b"]
    assert sorted(r.path for r in sink.requests) == ["/a", "/b"]

    sink.handler = None
    invoke(aws, follow_ups + follow_ups)  # the follow-up, and that follow-up redelivered
    assert sorted(r.path for r in sink.requests) == ["/a", "/b", "/b"]
    assert drain(aws) == []


def test_a_crash_before_the_follow_up_resends_only_what_failed(aws, sink):
    sink.handler = lambda r: (503, {}, b"busy") if r.path == "/b" else (200, {}, b"ok")
    dispatcher_queue = aws["handler"].runner().handle.__self__.queue
    real_send = dispatcher_queue.send
    calls = []

    def failing_once(body, delay=0):
        calls.append(body)
        if len(calls) == 1:
            raise ConnectionError("SQS unreachable")
        return real_send(body, delay)

    dispatcher_queue.send = failing_once
    first = record(message("pair"))
    assert invoke(aws, [first]) == {"batchItemFailures": [{"itemIdentifier": first["messageId"]}]}
    assert invoke(aws, [again(first)]) == {"batchItemFailures": []}  # SQS redelivers it
    assert sorted(r.path for r in sink.requests) == ["/a", "/b", "/b"]  # /a once: it took the event
    assert len(drain(aws)) == 1


def test_a_message_moved_back_by_replay_reads_the_ledger_on_its_first_receipt(aws, sink):
    """SQS dead-letters a message after its receives (its deliveries may have happened);
    `fluxnotify replay` moves it back as a new message (receive count 1), marked."""
    first = record(message("pair"))
    assert invoke(aws, [first]) == {"batchItemFailures": []}
    moved = {**record(first["body"]), "messageAttributes": {REPLAYED: {"stringValue": "1", "dataType": "String"}}}
    assert invoke(aws, [moved]) == {"batchItemFailures": []}
    assert sorted(r.path for r in sink.requests) == ["/a", "/b"]  # nothing twice


def test_two_copies_of_a_follow_up_make_one_chain(aws, sink):
    sink.handler = lambda r: (503, {}, b"busy")
    follow_up = message("pair", attempt=2, targets=["flux-system/to-b"])
    invoke(aws, [record(follow_up)])  # written twice (two SQS messages); DynamoDB makes the claim atomic
    invoke(aws, [record(follow_up)])
    assert [r.path for r in sink.requests] == ["/b"]
    assert len(drain(aws)) == 1


def test_a_dead_letter_names_only_targets_not_delivered(aws, sink):
    sink.handler = lambda r: (404, {}, b"gone") if r.path == "/b" else (200, {}, b"ok")
    dead_queue = aws["handler"].runner().handle.__self__.dead_letters
    real_send, calls = dead_queue.send, []

    def failing_once(body, delay=0):
        calls.append(body)
        if len(calls) == 1:
            raise ConnectionError("crash")
        return real_send(body, delay)

    dead_queue.send = failing_once
    first = record(message("pair"))
    assert invoke(aws, [first])["batchItemFailures"]
    sink.handler = lambda r: (404, {}, b"gone")  # /a would now fail too, but it took the event already
    assert invoke(aws, [again(first)]) == {"batchItemFailures": []}
    letters = [json.loads(r["body"]) for r in drain(aws, "dlq")]
    assert [letter["targets"] for letter in letters] == [["flux-system/to-b"]]
    assert sorted(r.path for r in sink.requests) == ["/a", "/b", "/b"]


# --- malformed input -------------------------------------------------------------------------

DEEP = "[" * 200_000 + "]" * 200_000
MALFORMED_BODIES = [
    "", "{not json", "[]", "null", "42", '"text"', DEEP, '{"event": ' + DEEP + "}",
    '{"version": 7, "event": {}}', '{"version": "2", "event": {}}', '{"event": "x"}', '{"event": []}',
    '{"event": {}, "targets": "all"}', '{"event": {}, "targets": [1]}', '{"event": {"severity": 5}}',
    '{"event": {"involvedObject": []}}', '{"event": {"message": "\\ud800"}}', '{"event": {}, "attempt": "x"}',
    json.dumps({"event": {**EVENT, "metadata": {"k": {"nested": [1]}}}}),
    json.dumps({"event": {**EVENT, "timestamp": "0001-01-01T00:00:00+01:00"}}),
]


@pytest.mark.parametrize("body", MALFORMED_BODIES, ids=range(len(MALFORMED_BODIES)))
def test_malformed_record_becomes_a_dead_letter_or_a_failure(aws, body):
    one = record(body)
    answer = invoke(aws, [one])
    failed = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
    letters = drain(aws, "dlq")
    assert failed == [one["messageId"]] or len(letters) == 1
    for letter in letters:
        assert json.loads(letter["body"])["reason"]


MALFORMED_EVENTS = [
    {}, {"Records": None}, {"Records": "x"}, {"Records": {}}, {"Records": [None, 1, "x"]}, [], "text", None, 42,
    {"Records": [{"body": "{}"}]}, {"Records": [{"messageId": 7, "body": "{}"}]},
    {"Records": [{"messageId": "no-body"}]}, {"Records": [{"messageId": "m", "body": {"event": {}}}]},
]


@pytest.mark.parametrize("event", MALFORMED_EVENTS, ids=range(len(MALFORMED_EVENTS)))
def test_malformed_sqs_event_never_raises(aws, event):
    answer = aws["handler"].lambda_handler(event, FakeContext())
    assert isinstance(answer["batchItemFailures"], list)
    ids = {r.get("messageId") for r in (event.get("Records") or []) if isinstance(r, dict)} if isinstance(
        event, dict) and isinstance(event.get("Records"), list) else set()
    letters = drain(aws, "dlq")
    for message_id in ids & {"no-body", "m"}:  # a record we can name: a failure or a dead letter
        assert message_id in [f["itemIdentifier"] for f in answer["batchItemFailures"]] or letters


# --- metrics -----------------------------------------------------------------------------------


def emf_documents(text: str) -> list[dict]:
    return [d for line in text.splitlines() if line.startswith("{") and "_aws" in (d := json.loads(line))]


def test_one_emf_document_per_dimension_set_and_invocation(aws, sink, capsys):
    capsys.readouterr()
    invoke(aws, [record(message("pair")) for _ in range(4)])
    first = emf_documents(capsys.readouterr().out)
    invoke(aws, [record(message("pair"))])
    second = emf_documents(capsys.readouterr().out)
    by_type = {d.get("ProviderType"): d for d in first}
    assert len(first) == len(by_type) == 1  # generic (no ColdStart: Lambda's Init Duration says it)
    assert "DeliveriesSent" not in by_type["generic"]  # the latency's SampleCount counts them
    assert len(by_type["generic"]["DeliveryLatency"]) == 8
    assert [d.get("ProviderType") for d in second] == ["generic"]


def test_importing_the_handler_pulls_no_parameters_provider_batch_utility_or_asyncio():
    import os
    import subprocess
    import sys

    code = ("import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('app', 'functions/dispatcher/app.py')\n"
            "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
            "print(sorted(n for n in sys.modules if n.startswith(('aws_lambda_powertools.utilities.parameters',"
            " 'aws_lambda_powertools.utilities.batch', 'asyncio', 's3transfer', 'boto3'))))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              [str(ROOT / "layers" / "notify"), os.environ.get("PYTHONPATH", "")])})
    assert done.stdout.strip() == "[]"


# --- deliveries of records handed back to SQS ----------------------------------------------------


def test_deliveries_of_an_abandoned_record_are_logged_counted_and_in_status(aws, sink, capsys, caplog):
    """A record with a fast and a never-answering target runs out of time and goes back to
    SQS; its fast delivery happened (the redelivery will not repeat it), so it is reported."""
    from fluxnotify.ops.cli import main

    stuck = [record(message("silent")) for _ in range(6)]  # to-a (fast) and to-silent (no answer)
    fine = [record(message("apps")) for _ in range(4)]  # to-a only
    capsys.readouterr()
    with caplog.at_level("INFO"):
        answer = invoke(aws, stuck + fine, seconds=1.5)
        invoke(aws, [again(one) for one in stuck[:2]], seconds=1.0)  # redelivered: to-a is in the ledger, to-silent hangs again
    assert sorted(f["itemIdentifier"] for f in answer["batchItemFailures"]) == sorted(r["messageId"] for r in stuck)
    captured = accepted(sink, "/a")
    assert captured == 10

    sent = sum(len(d.get("DeliveryLatency", [])) for d in emf_documents(capsys.readouterr().out))  # one per delivery
    # One summary line per invocation counts them; the per-message lines are DEBUG on Lambda.
    logged = sum(getattr(r, "delivered", 0) for r in caplog.records if r.getMessage() == "batch handled")
    assert not [r for r in caplog.records if r.getMessage() == "delivered" and r.levelno >= logging.INFO]
    assert main(["status", "--from-aws", "--state-table", "state", "--queue-url", aws["queue"],
                 "--dlq-url", aws["dlq"], "-o", "json"]) == 0
    objects = {(o["kind"], o["name"]): o for o in json.loads(capsys.readouterr().out)["objects"]}
    shown = objects[("Provider", "flux-system/a")]["lastHour"]["delivered"]
    assert (captured, sent, logged, shown) == (10, 10, 10, 10)
    assert "delivered" not in json.dumps(objects.get(("Provider", "flux-system/silent"), {}).get("lastHour", {}))


def test_deliveries_of_a_record_whose_follow_up_failed_are_counted_once(aws, sink, capsys):
    sink.handler = lambda r: (503, {}, b"busy") if r.path == "/b" else (200, {}, b"ok")
    dispatcher_queue = aws["handler"].runner().handle.__self__.queue
    real_send, calls = dispatcher_queue.send, []

    def failing_once(body, delay=0):
        calls.append(body)
        if len(calls) == 1:
            raise ConnectionError("SQS unreachable")
        return real_send(body, delay)

    dispatcher_queue.send = failing_once
    first = record(message("pair"))
    capsys.readouterr()
    assert invoke(aws, [first])["batchItemFailures"]  # /a delivered, the retry of /b not written
    assert invoke(aws, [again(first)]) == {"batchItemFailures": []}  # redelivered: only /b again
    sent = sum(len(d.get("DeliveryLatency", [])) for d in emf_documents(capsys.readouterr().out))  # one per delivery
    assert accepted(sink, "/a") == sent == 1


# --- delivery status, written once per invocation ------------------------------------------------


def test_status_counts_every_delivery_of_two_concurrent_invocations_writing_each_item_once(aws, sink, capsys,
                                                                                          monkeypatch):
    """Two dispatcher environments (the handler loaded twice: its own runner, clients and
    status buffer) each handle 10 concurrent records to the same two Providers and Alerts at
    the same time: status counts every delivery, and an invocation writes each item once."""
    from moto.core.botocore_stubber import BotocoreStubber

    from fluxnotify.ops.cli import main

    sink.server.socket.listen(128)  # 40 connections at once: more than the default backlog
    moto_lock, process = threading.Lock(), BotocoreStubber.process_request  # moto's tables are not thread-safe
    monkeypatch.setattr(BotocoreStubber, "process_request", lambda self, r: _locked(moto_lock, process, self, r))
    spec = importlib.util.spec_from_file_location("dispatcher_app_second", ROOT / "functions/dispatcher/app.py")
    second = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(second)
    written: list[tuple[str, str, int]] = []  # (operation, pk, parts of the condition)
    boto3.setup_default_session()  # both environments' clients come from it: their requests are seen
    boto3.DEFAULT_SESSION.events.register("before-parameter-build.dynamodb", lambda model, params, **_: written.append(
        (model.name, params.get("Key", {}).get("pk", {}).get("S", ""),
         params.get("ConditionExpression", "").count("attribute_not_exists"))))
    batches = [[record(message("pair")) for _ in range(10)] for _ in range(2)]
    answers: list[dict] = []
    threads = [threading.Thread(target=lambda h=h, b=b: answers.append(h.lambda_handler({"Records": b}, FakeContext())))
               for h, b in ((aws["handler"], batches[0]), (second, batches[1]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [{"batchItemFailures": []}] * 2
    assert (accepted(sink, "/a"), accepted(sink, "/b")) == (20, 20)

    status = [(op, pk, parts) for op, pk, parts in written if pk.startswith("status#")]
    assert {op for op, _, _ in status} <= {"UpdateItem", "GetItem"}  # no transaction
    # Each invocation: one conditional write per (Alert, Provider) pair's hour item, with its
    # counts and last-* fields (and, when the other invocation stored a newer one, the counts
    # and the parts on their own); the hour's first writer reads and moves the pair's head.
    pairs = ("flux-system/to-a#flux-system/a", "flux-system/to-b#flux-system/b")
    hours = Counter(pk.rsplit("#", 1)[0] for op, pk, parts in status if op == "UpdateItem" and parts == 2)
    assert hours == {f"status#pair#{pair}": 2 for pair in pairs}
    heads = Counter(pk for op, pk, _ in status if op == "UpdateItem" and pk.count("#") == 3)
    assert heads == {f"status#pair#{pair}": 1 for pair in pairs} or len(heads) == 2  # once per hour
    capsys.readouterr()
    assert main(["status", "--from-aws", "--state-table", "state", "-o", "json"]) == 0
    objects = {(o["kind"], o["name"]): o for o in json.loads(capsys.readouterr().out)["objects"]}
    assert {subject: o["lastHour"]["delivered"] for subject, o in objects.items()} == {
        ("Provider", "flux-system/a"): 20, ("Provider", "flux-system/b"): 20,
        ("Alert", "flux-system/to-a"): 20, ("Alert", "flux-system/to-b"): 20}


def _locked(lock, process, stubber, request):
    with lock:
        return process(stubber, request)
