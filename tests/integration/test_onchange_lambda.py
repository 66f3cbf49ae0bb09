"""fluxnotify.io/notify: on-change, renotify and after on the Lambda handlers: API Gateway event →
ReceiverFunction → SQS (moto) → DispatcherFunction (config in moto's SSM, state in DynamoDB
STATE_TABLE, items ``onchange#…``) → a capture server on 127.0.0.1."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws
from statetable import create_state_table
from test_extensions_lambda import TOKEN, dispatch, post, records
from test_lambda_pipeline import load_handler

from fluxnotify.delivery.stages import onchange

V = "notification.toolkit.fluxcd.io/v1beta3"
ANNOTATIONS = {
    "changes": {"fluxnotify.io/notify": "on-change", "fluxnotify.io/renotify": "4h"},
    "after": {"fluxnotify.io/after": "3"},
}


def objects(sink_url: str) -> dict[str, dict]:
    found = {}
    for name, notes in ANNOTATIONS.items():
        found[f"/fluxnotify/flux-system/Provider/{name}"] = {
            "apiVersion": V, "kind": "Provider", "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"type": "generic", "address": f"{sink_url}/{name}"}}
        found[f"/fluxnotify/flux-system/Alert/{name}"] = {
            "apiVersion": V, "kind": "Alert",
            "metadata": {"name": name, "namespace": "flux-system", "annotations": notes},
            "spec": {"providerRef": {"name": name}, "eventSources": [{"kind": "Kustomization", "name": "*"}]}}
    return found


@pytest.fixture
def aws(monkeypatch, sink):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="events")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
        dynamodb = boto3.client("dynamodb")
        create_state_table(dynamodb)  # as template.yaml defines it (the status index)
        token_arn = boto3.client("secretsmanager").create_secret(Name="webhook-token", SecretString=TOKEN)["ARN"]
        ssm = boto3.client("ssm")
        for name, manifest in objects(sink.url).items():
            ssm.put_parameter(Name=name, Type="String", Value=json.dumps(manifest))
        for key, value in {"QUEUE_URL": queue, "DLQ_URL": dlq, "DEDUP_TABLE": "state", "STATE_TABLE": "state",
                           "WEBHOOK_TOKEN_SECRET": token_arn, "CONFIG_PREFIX": "/fluxnotify",
                           "SECRETS_PREFIX": "fluxnotify", "RATE_LIMIT_INTERVAL": "0",
                           "RETRY_BASE_SECONDS": "0"}.items():
            monkeypatch.setenv(key, value)
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        yield {"sqs": sqs, "queue": queue, "dlq": dlq, "dynamodb": dynamodb,
               "receiver": load_handler("receiver"), "dispatcher": load_handler("dispatcher")}


def step(aws, severity: str, reason: str) -> None:
    post(aws, "apps", reason=reason, severity=severity)
    batch = records(aws)
    dispatch(aws, batch)
    dispatch(aws, [again(record) for record in batch])  # SQS delivers it again (a timeout, a crash): nothing twice


def again(record: dict) -> dict:
    """The same record redelivered by SQS: its ApproximateReceiveCount goes up."""
    return {**record, "attributes": {**record["attributes"], "ApproximateReceiveCount": "2"}}


def sent(sink, path: str) -> list[tuple[str, str]]:
    return [(r.json()["severity"], r.json()["reason"]) for r in sink.requests if r.path == f"/{path}"]


def test_on_change_and_after_through_sqs_and_dynamodb(aws, sink):
    for severity, reason in [("info", "ReconciliationSucceeded")] * 2 + [("error", "HealthCheckFailed")] * 4 + [
            ("info", "ReconciliationSucceeded")]:
        step(aws, severity, reason)
    assert sent(sink, "changes") == [("info", "ReconciliationSucceeded"), ("error", "HealthCheckFailed"),
                                     ("info", "ReconciliationSucceeded")]
    # after 3: both successes, the third and fourth failures, the recovery
    assert sent(sink, "after") == [("info", "ReconciliationSucceeded")] * 2 + [("error", "HealthCheckFailed")] * 2 + [
        ("info", "ReconciliationSucceeded")]
    items = {i["pk"]["S"]: i for i in aws["dynamodb"].scan(TableName="state")["Items"]
             if i["pk"]["S"].startswith("onchange#")}
    key = "onchange#flux-system/changes|flux-system/changes|default|Kustomization/flux-system/apps"
    assert set(items) == {key, key.replace("changes", "after")}
    assert items[key]["state"]["S"] == "info/ReconciliationSucceeded"
    assert int(items[key]["expires_at"]["N"]) > time.time() + 7 * 86400  # a week after the last event, at least


def test_a_retried_delivery_and_a_reminder_through_sqs(aws, sink, monkeypatch):
    now = [time.time()]
    monkeypatch.setattr(onchange, "clock", lambda: now[0])
    sink.handler = lambda r: (503, {}, b"busy") if r.path == "/changes" and len(sent(sink, "changes")) == 1 else (
        200, {}, b"ok")
    step(aws, "error", "HealthCheckFailed")  # answered 503: retried through SQS
    retry = records(aws, wait=5)
    assert [json.loads(r["body"])["targets"] for r in retry] == [["flux-system/changes"]]
    step(aws, "error", "HealthCheckFailed")  # the same state while the retry waits: skipped
    dispatch(aws, retry)  # the retry is not skipped by on-change
    assert sent(sink, "changes") == [("error", "HealthCheckFailed")] * 2
    now[0] += 4 * 3600 + 1
    step(aws, "error", "HealthCheckFailed")  # unchanged for 4h: a reminder
    reminders = [r.json().get("metadata", {}) for r in sink.requests if r.path == "/changes"]
    assert [m.get("reminder") for m in reminders] == [None, None, "true"]
    assert aws["sqs"].receive_message(QueueUrl=aws["dlq"]).get("Messages") is None

