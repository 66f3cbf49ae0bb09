"""Slack threads: fluxnotify.io/thread: object on a chat.postMessage Provider (delivery/stages/threads.py)."""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest
from exthelpers import Harness, event

from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.threads import SqliteThreads

THREAD_TOKEN = "xoxb-thread-token-0042"


def slack_manifests(annotations: dict | None = None, address: str = "https://slack.com/api/chat.postMessage") -> str:
    notes = json.dumps({"fluxnotify.io/thread": "object", **(annotations or {})})
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: slack-token, namespace: flux-system}}
stringData: {{token: {THREAD_TOKEN}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: slack, namespace: flux-system, annotations: {notes}}}
spec: {{type: slack, channel: C0123, address: "{address}", secretRef: {{name: slack-token}}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: slack, namespace: flux-system}}
spec:
  providerRef: {{name: slack}}
  eventSources: [{{kind: Kustomization, name: '*'}}]
"""


@pytest.fixture
def slack_api(sink, monkeypatch):
    """The sink as Slack's Web API: every chat.postMessage gets a new ts."""
    monkeypatch.setenv("SLACK_API_URL", sink.url + "/api")
    numbers = itertools.count(1)
    sink.handler = lambda r: (200, {"Content-Type": "application/json"},
                              json.dumps({"ok": True, "ts": f"1700000000.{next(numbers):06}"}).encode())
    return sink


def test_later_notifications_about_an_object_are_replies(slack_api):
    harness = Harness(slack_manifests())
    harness.send(event("apps", message="first"))
    harness.send(event("apps", message="second"))
    harness.send(event("infra", message="other object"))
    harness.send(event("apps", message="broke", severity="error", reason="ReconciliationFailed"))
    requests = slack_api.wait_for(4)
    assert {r.path for r in requests} == {"/api/chat.postMessage"}
    assert {r.header("Authorization") for r in requests} == {f"Bearer {THREAD_TOKEN}"}
    bodies = [r.json() for r in requests]
    assert "thread_ts" not in bodies[0] and "thread_ts" not in bodies[2]
    assert bodies[1]["thread_ts"] == "1700000000.000001" and "reply_broadcast" not in bodies[1]
    assert bodies[3]["thread_ts"] == "1700000000.000001" and bodies[3]["reply_broadcast"] is True


def test_threads_are_per_cluster(slack_api):
    harness = Harness(slack_manifests())
    harness.send(event("apps"), cluster="prod")
    harness.send(event("apps"), cluster="staging")
    assert ["thread_ts" in r.json() for r in slack_api.wait_for(2)] == [False, False]


def test_a_thread_expires_after_its_ttl(slack_api, tmp_path):
    store = SqliteThreads(SqliteDatabase(str(tmp_path / "t.db")))
    store.put("k", "1.1", ttl=60, now=1000.0)
    assert store.get("k", now=1059.0) == "1.1"
    assert store.get("k", now=1060.0) is None


def test_webhook_slack_providers_post_as_usual(sink):
    harness = Harness(slack_manifests(address=sink.url + "/services/T/B/X"))
    harness.send(event("apps"))
    harness.send(event("apps"))
    assert ["thread_ts" in r.json() for r in sink.wait_for(2)] == [False, False]


def test_a_refused_reply_is_a_delivery_failure(slack_api):
    harness = Harness(slack_manifests())
    harness.send(event("apps"))
    slack_api.respond(200, {"ok": False, "error": "thread_not_found"})
    (result,) = harness.send(event("apps"))
    assert result.outcome == "dead"
    assert "thread_not_found" in result.detail and THREAD_TOKEN not in result.detail


def burst(harness: Harness, count: int, gap: float = 0.1) -> None:
    """``count`` events about one object, ``gap`` seconds apart, each handled in its own thread
    as serve's workers and concurrent Lambda invocations do."""
    threads = []
    for index in range(count):
        worker = threading.Thread(target=harness.send, args=(event("apps", message=f"event {index}"),))
        worker.start()
        threads.append(worker)
        time.sleep(gap)
    for worker in threads:
        worker.join(10)


def slow_slack(sink, seconds: float):
    """Slack's Web API answering after ``seconds`` (a parent post still in flight when the next
    events of the burst arrive)."""
    numbers = itertools.count(1)

    def answer(request):
        time.sleep(seconds)
        return 200, {"Content-Type": "application/json"}, json.dumps(
            {"ok": True, "ts": f"1700000000.{next(numbers):06}"}).encode()

    sink.handler = answer


def test_a_burst_makes_one_parent_and_replies(slack_api):
    slow_slack(slack_api, 0.35)
    burst(Harness(slack_manifests()), 3)
    bodies = [r.json() for r in slack_api.wait_for(3)]
    parents = [b for b in bodies if "thread_ts" not in b]
    assert len(parents) == 1
    assert sorted(b.get("thread_ts") for b in bodies if "thread_ts" in b) == ["1700000000.000001"] * 2


def test_a_failed_parent_post_lets_the_next_event_claim(slack_api):
    answers = iter([(500, {}, b"down")])
    numbers = itertools.count(1)
    slack_api.handler = lambda r: next(answers, None) or (200, {"Content-Type": "application/json"}, json.dumps(
        {"ok": True, "ts": f"1700000000.{next(numbers):06}"}).encode())
    harness = Harness(slack_manifests())
    (first,) = harness.send(event("apps", message="first"))
    assert first.outcome == "retry"
    harness.send(event("apps", message="second"))
    harness.send(event("apps", message="third"))
    bodies = [r.json() for r in slack_api.wait_for(3)]
    assert "thread_ts" not in bodies[1]  # the claim of the failed post was released
    assert bodies[2]["thread_ts"] == "1700000000.000001"


def test_dynamodb_claim_is_conditional():
    import boto3
    from moto import mock_aws
    from statetable import create_state_table

    from fluxnotify.state.threads import DynamoThreads

    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_state_table(client)  # as template.yaml defines it
        store = DynamoThreads("state", client)
        assert store.claim("k", now=1000.0) is True
        assert store.claim("k", now=1001.0) is False
        assert store.get("k", now=1001.0) == ""  # pending
        store.put("k", "1.0002", 60, now=1002.0)
        assert store.get("k", now=1003.0) == "1.0002" and store.claim("k", now=1003.0) is False
        store.release("k")  # a kept parent is not released
        assert store.get("k", now=1003.0) == "1.0002"
        assert store.claim("k", now=1100.0) is True  # expired: a new thread


def test_sqlite_claim_expires(tmp_path):
    store = SqliteThreads(SqliteDatabase(str(tmp_path / "claims.db")))
    assert store.claim("k", now=1000.0) and not store.claim("k", now=1001.0)
    assert store.get("k", now=1001.0) == ""
    assert store.claim("k", now=1000.0 + 31)  # a claimer that died does not hold the thread
