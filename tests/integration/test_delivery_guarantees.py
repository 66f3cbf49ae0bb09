"""Delivery guarantees on the local stack, under faults and load (fixed counts, not timings).

* 2,000 events × 3 providers through a fault-injecting endpoint (~30 % failures):
  every (event, provider) pair ends delivered exactly once or in the dead-letter
  queue with a reason; none is delivered twice.
* kill -9 of `fluxnotify serve` with events in flight: after a restart every event
  answered 202 is delivered.
* a poison message does not block the rest of its batch.
* `fluxnotify replay` moves dead letters back (local stack and SQS/moto).
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from test_serve import free_port, start

from fluxnotify.ops.cli import main as cli_main
from fluxnotify.ops.local import LocalStack
from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue
from fluxnotify.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
PROVIDERS = ("p1", "p2", "p3")


def config_for(url: str, timeout: str = "1s") -> str:
    docs = []
    for name in PROVIDERS:
        docs.append(f"""apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: {name}, namespace: flux-system}}
spec: {{type: generic, address: "{url}/{name}", timeout: {timeout}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: {name}, namespace: flux-system}}
spec:
  providerRef: {{name: {name}}}
  eventSources: [{{kind: Kustomization, name: "*"}}]
""")
    return "---\n".join(docs)


def event(i: int) -> bytes:
    return json.dumps({
        "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": f"app-{i % 50}",
                           "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
        "severity": "info", "timestamp": "2026-11-25T10:00:00Z", "message": f"event-{i}",
        "reason": "ReconciliationSucceeded", "reportingController": "kustomize-controller",
        "metadata": {"kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{i:040d}"},
    }).encode()


def post_all(port: int, indexes: list[int], path: str = "/") -> list[int]:
    """POST events over keep-alive connections from a few threads; return the statuses."""
    def worker(chunk: list[int]) -> list[int]:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        statuses = []
        for i in chunk:
            connection.request("POST", path, body=event(i), headers={"Content-Type": "application/json"})
            answer = connection.getresponse()
            answer.read()
            statuses.append(answer.status)
        connection.close()
        return statuses

    chunks = [indexes[k::8] for k in range(8)]
    with ThreadPoolExecutor(8) as pool:
        return [status for part in pool.map(worker, chunks) for status in part]


@pytest.fixture
def fault_sink(tmp_path):
    log = tmp_path / "sink.log"
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "faultsink.py"), str(log), "1234"],
                               stdout=subprocess.PIPE, text=True)
    port = int(process.stdout.readline())
    yield f"http://127.0.0.1:{port}", log
    process.kill()
    process.wait()


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_faults_and_load_every_pair_delivered_once_or_dead_lettered(tmp_path, fault_sink):
    url, log = fault_sink
    config = tmp_path / "flux.yaml"
    config.write_text(config_for(url))
    stack = LocalStack([str(config)], port=0, database=str(tmp_path / "q.db"), workers=16,
                       settings=Settings(rate_limit_interval=300, max_attempts=6, retry_base=0.2, max_workers=64)).start()
    try:
        port = stack.server.server_address[1]
        statuses = post_all(port, list(range(2000)))
        assert Counter(statuses) == {202: 2000}
        assert wait_for(lambda: stack.queue.count() == 0, timeout=240), f"{stack.queue.count()} left"
    finally:
        stack.stop()

    lines = [line.split(" ", 2) for line in log.read_text().splitlines()]
    outcomes = Counter(outcome for outcome, _, _ in lines)
    delivered = Counter((message, path.strip("/")) for outcome, path, message in lines if outcome == "ok")
    letters = [json.loads(m.body) for m in stack.dead.all()]
    dead = Counter((letter["event"]["message"], letter["provider"].split("/")[1]) for letter in letters)

    all_pairs = {(f"event-{i}", p) for i in range(2000) for p in PROVIDERS}
    assert max(delivered.values()) == 1, "a pair was delivered twice"
    assert max(dead.values(), default=1) == 1
    assert set(delivered).isdisjoint(dead), "a pair was both delivered and dead-lettered"
    assert set(delivered) | set(dead) == all_pairs
    assert len(delivered) + len(dead) == 6000
    assert all(letter["reason"] == "retries exhausted" and letter["error"] for letter in letters)
    failures = sum(outcomes.values()) - outcomes["ok"]
    assert failures > 0.2 * sum(outcomes.values())  # the faults really happened
    print(f"\nfault test: {len(delivered)} delivered, {failures} failed attempts retried or dead, "
          f"{len(dead)} dead-lettered, requests by outcome {dict(outcomes)}")


def test_kill_9_with_events_in_flight_loses_nothing(tmp_path, sink):
    sink.handler = lambda r: (time.sleep(0.02), (200, {}, b""))[1]
    config = tmp_path / "flux.yaml"
    config.write_text(config_for(sink.url).split("---\n")[0] + "---\n" + config_for(sink.url).split("---\n")[1])
    db, port = tmp_path / "q.db", free_port()
    process = start(config, db, port, "--workers", "2")
    try:
        statuses = post_all(port, list(range(300)))
        assert Counter(statuses) == {202: 300}
        time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    in_flight = 300 - len({r.json()["message"] for r in sink.requests})
    assert in_flight > 0, "everything was delivered before the kill: the test proves nothing"

    process = start(config, db, free_port(), "--workers", "4")
    try:
        assert wait_for(lambda: len({r.json()["message"] for r in sink.requests}) == 300, timeout=60)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert {r.json()["message"] for r in sink.requests} == {f"event-{i}" for i in range(300)}


def test_poison_message_does_not_block_its_batch(tmp_path, sink):
    config = tmp_path / "flux.yaml"
    config.write_text(config_for(sink.url))
    db_path = str(tmp_path / "q.db")
    queue = SqliteQueue(SqliteDatabase(db_path), "events")
    from fluxnotify.delivery.dispatcher import new_envelope
    from fluxnotify.model.event import clean_metadata, parse_event

    queue.send(new_envelope(clean_metadata(parse_event(event(1)))).to_json())
    queue.send("\x00 definitely not json")
    queue.send(new_envelope(clean_metadata(parse_event(event(2)))).to_json())
    stack = LocalStack([str(config)], port=0, database=db_path, workers=1).start()
    try:
        assert wait_for(lambda: stack.queue.count() == 0, timeout=10)
    finally:
        stack.stop()
    assert sorted(r.json()["message"] for r in sink.requests) == ["event-1"] * 3 + ["event-2"] * 3
    (letter,) = [json.loads(m.body) for m in stack.dead.all()]
    assert letter["reason"] == "undecodable message"
    assert letter["raw"] == "\x00 definitely not json"


def test_replay_local_moves_dead_letters_back_and_delivers_them(tmp_path, sink, capsys):
    config = tmp_path / "flux.yaml"
    config.write_text(config_for(sink.url))
    db_path = str(tmp_path / "q.db")
    sink.default = (400, {}, b"rejected")
    stack = LocalStack([str(config)], port=0, database=db_path, workers=2).start()
    try:
        post_all(stack.server.server_address[1], [7])
        assert wait_for(lambda: len(stack.dead.all()) == 3, timeout=10)
    finally:
        stack.stop()

    assert cli_main(["replay", "--db", db_path, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would move 3 message(s)" in out and "flux-system/p1: 1" in out
    assert "answered 400 Bad Request: rejected" in out

    assert cli_main(["replay", "--db", db_path]) == 0
    assert "moved 3 message(s)" in capsys.readouterr().out
    sink.default = (200, {}, b"")
    sink.requests.clear()
    stack = LocalStack([str(config)], port=0, database=db_path, workers=2).start()
    try:
        assert wait_for(lambda: len(sink.requests) == 3 and stack.queue.count() == 0, timeout=10)
    finally:
        stack.stop()
    assert sorted(r.path for r in sink.requests) == ["/p1", "/p2", "/p3"]
    assert stack.dead.all() == []


def test_replay_sqs_moves_dead_letters_back(monkeypatch, capsys):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="events")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
        for i in range(23):
            letter = {"event": json.loads(event(i)), "targets": ["flux-system/p1"], "attempt": 9,
                      "provider": "flux-system/p1", "error": "boom", "reason": "retries exhausted"}
            sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps(letter))

        assert cli_main(["replay", "--queue-url", queue, "--dlq-url", dlq, "--dry-run"]) == 0
        captured = capsys.readouterr()
        assert "would move 23 message(s) from the dead-letter queue (flux-system/p1: 23)" in captured.out
        assert "replay: 23/23 dead letters handled" in captured.err

        assert cli_main(["replay", "--queue-url", queue, "--dlq-url", dlq]) == 0
        assert "moved 23 message(s)" in capsys.readouterr().out
        attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
        assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "23"
        left = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
        assert left["ApproximateNumberOfMessages"] == "0" and left["ApproximateNumberOfMessagesNotVisible"] == "0"
        moved = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"])["Messages"][0]
        assert "fluxnotify-replayed" in moved["MessageAttributes"]  # the dispatcher reads its ledger
