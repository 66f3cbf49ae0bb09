"""The fluxnotify.io/* extensions on the Lambda handlers: API Gateway event → ReceiverFunction →
SQS (moto) → DispatcherFunction (config in moto's SSM + Secrets Manager, state in DynamoDB
STATE_TABLE) → real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import time

import boto3
import pytest
from moto import mock_aws
from statetable import create_state_table
from test_lambda_pipeline import Context, api_event, load_handler

TOKEN = "lambda-ext-token-0123456789"
SLACK_TOKEN = "xoxb-lambda-thread-0001"
V = "notification.toolkit.fluxcd.io/v1beta3"


def objects(sink_url: str) -> dict[str, dict]:
    def provider(name, spec, annotations=None):
        meta = {"name": name, "namespace": "flux-system", **({"annotations": annotations} if annotations else {})}
        return {"apiVersion": V, "kind": "Provider", "metadata": meta, "spec": spec}

    def alert(name, provider_name, annotations, sources=None):
        return {"apiVersion": V, "kind": "Alert",
                "metadata": {"name": name, "namespace": "flux-system", "annotations": annotations},
                "spec": {"providerRef": {"name": provider_name},
                         "eventSources": sources or [{"kind": "Kustomization", "name": "*"}]}}

    found = {
        "Provider/digest": provider("digest", {"type": "generic", "address": f"{sink_url}/digest"}),
        "Alert/digest": alert("digest", "digest", {"fluxnotify.io/digest": "1s",
                                                   "fluxnotify.io/reasons": "Health*"}),
        "Provider/templated": provider("templated", {"type": "generic", "address": f"{sink_url}/templated"}),
        "Alert/templated": alert("templated", "templated", {
            "fluxnotify.io/message": "[{{ cluster }}] {{ event.involvedObject.name }}: {{ event.reason }}",
            "fluxnotify.io/clusters": "prod-*", "fluxnotify.io/exclude-reasons": "Progressing"},
            [{"kind": "Kustomization", "name": "*", "namespace": "*"}]),
        "Provider/slack": provider("slack", {"type": "slack", "channel": "C1",
                                             "address": "https://slack.com/api/chat.postMessage",
                                             "secretRef": {"name": "slack-token"}},
                                   {"fluxnotify.io/thread": "object"}),
        "Alert/slack": alert("slack", "slack", {"fluxnotify.io/reasons": "Reconciliation*"},
                             [{"kind": "HelmRelease", "name": "*"}]),
    }
    return {f"/fluxnotify/flux-system/{key}": value for key, value in found.items()}


@pytest.fixture
def aws(monkeypatch, sink):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("SLACK_API_URL", sink.url + "/slack")
    numbers = itertools.count(1)
    sink.handler = lambda r: (200, {}, json.dumps({"ok": True, "ts": f"1.{next(numbers)}"}).encode())
    with mock_aws():
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="events")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
        dynamodb = boto3.client("dynamodb")
        create_state_table(dynamodb)  # as template.yaml defines it
        secrets = boto3.client("secretsmanager")
        token_arn = secrets.create_secret(Name="webhook-token", SecretString=TOKEN)["ARN"]
        secrets.create_secret(Name="fluxnotify/flux-system/slack-token", SecretString=json.dumps({"token": SLACK_TOKEN}))
        ssm = boto3.client("ssm")
        for name, manifest in objects(sink.url).items():
            ssm.put_parameter(Name=name, Type="String", Value=json.dumps(manifest))
        for key, value in {"QUEUE_URL": queue, "DLQ_URL": dlq, "DEDUP_TABLE": "state", "STATE_TABLE": "state",
                           "WEBHOOK_TOKEN_SECRET": token_arn, "CONFIG_PREFIX": "/fluxnotify",
                           "SECRETS_PREFIX": "fluxnotify", "RATE_LIMIT_INTERVAL": "0"}.items():
            monkeypatch.setenv(key, value)
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        yield {"sqs": sqs, "queue": queue, "dlq": dlq, "dynamodb": dynamodb,
               "receiver": load_handler("receiver"), "dispatcher": load_handler("dispatcher")}


def records(aws, *, wait: float = 0.0) -> list[dict]:
    deadline = time.monotonic() + wait
    while True:
        found = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
        if found or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    return [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
             "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:events",
             "awsRegion": "eu-west-1"} for m in found]


def post(aws, name: str, *, reason: str, kind: str = "Kustomization", severity: str = "info",
         namespace: str = "flux-system") -> None:
    body = json.dumps({
        "involvedObject": {"kind": kind, "namespace": namespace, "name": name,
                           "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
        "severity": severity, "timestamp": "2026-01-01T00:00:00Z", "message": f"{name} {reason}",
        "reason": reason, "metadata": {}, "reportingController": "kustomize-controller"})
    answer = aws["receiver"].lambda_handler(api_event(body, path=f"/{TOKEN}"), Context())
    assert answer["statusCode"] == 202, answer


def dispatch(aws, batch: list[dict]) -> None:
    assert aws["dispatcher"].lambda_handler({"Records": batch}, Context()) == {"batchItemFailures": []}


def test_digest_gathers_through_sqs_delays_and_dynamodb_and_sends_once(aws, sink):
    post(aws, "apps", reason="HealthCheckFailed", severity="error")
    post(aws, "infra", reason="HealthCheckFailed")
    post(aws, "other", reason="Progressing")  # not one of the digest's reasons
    batch = records(aws)
    # One record per invocation: DynamoDB applies concurrent UpdateItems to one item atomically,
    # moto's in-process backend does not across threads, so concurrent records would race here.
    for record in batch + batch:  # then SQS redelivers them (a timeout, a crash): nothing counted twice
        dispatch(aws, [record])
    assert [r.path for r in sink.requests] == []
    keys = [item["pk"]["S"] for item in aws["dynamodb"].scan(TableName="state")["Items"]]
    assert "digest#flux-system/digest|flux-system/digest" in keys
    flushes = records(aws, wait=10)  # the flush message, delayed by SQS to the window's end
    assert [json.loads(r["body"])["digest"]["alert"] for r in flushes] == ["flux-system/digest"] * len(flushes)
    # One record per invocation here too: moto copies the whole table in each transaction (the
    # close), racing any write of another thread (DynamoDB's transactions are atomic).
    for record in flushes + flushes:  # the opener queued its flush twice; a redelivered flush sends nothing
        dispatch(aws, [record])
    (request,) = [r for r in sink.requests if r.path == "/digest"]
    body = request.json()
    assert body["severity"] == "error"
    assert body["metadata"] == {"events": "2"}
    assert body["message"].splitlines() == ["Kustomization/flux-system/apps: HealthCheckFailed: apps HealthCheckFailed",
                                            "Kustomization/flux-system/infra: HealthCheckFailed: infra HealthCheckFailed"]


def queue_with_cluster(aws, cluster: str, name: str, reason: str = "ReconciliationSucceeded",
                       namespace: str = "apps") -> None:
    event = {"involvedObject": {"kind": "Kustomization", "namespace": namespace, "name": name},
             "severity": "info", "message": "m", "reason": reason, "reportingController": "kustomize-controller"}
    body = json.dumps({"event": event, "attempt": 1, "targets": None, "id": f"id-{cluster}-{name}",
                       "cluster": cluster})
    aws["sqs"].send_message(QueueUrl=aws["queue"], MessageBody=body)


def test_template_clusters_reasons_and_cluster_wide_sources(aws, sink):
    queue_with_cluster(aws, "prod-eu", "apps")
    queue_with_cluster(aws, "staging", "apps")
    queue_with_cluster(aws, "prod-us", "infra", reason="Progressing")
    dispatch(aws, records(aws))
    (request,) = [r for r in sink.requests if r.path == "/templated"]
    assert request.json()["message"] == "[prod-eu] apps: ReconciliationSucceeded"
    assert request.json()["involvedObject"]["namespace"] == "apps"  # namespace "*": every namespace


def test_no_cross_namespace_refs_from_the_environment(aws, sink, monkeypatch):
    monkeypatch.setenv("NO_CROSS_NAMESPACE_REFS", "true")
    aws["dispatcher"] = load_handler("dispatcher")
    queue_with_cluster(aws, "prod-eu", "apps", namespace="apps")
    queue_with_cluster(aws, "prod-eu", "mine", namespace="flux-system")
    dispatch(aws, records(aws))
    assert [r.json()["message"] for r in sink.requests if r.path == "/templated"] == ["[prod-eu] mine: "
                                                                                      "ReconciliationSucceeded"]


def test_slack_thread_parent_kept_in_dynamodb(aws, sink):
    for severity in ("info", "info", "error"):
        post(aws, "podinfo", reason="ReconciliationSucceeded", kind="HelmRelease", severity=severity)
        dispatch(aws, records(aws))
    posts = [r.json() for r in sink.requests if r.path == "/slack/chat.postMessage"]
    assert [p.get("thread_ts") for p in posts] == [None, "1.1", "1.1"]
    assert [p.get("reply_broadcast") for p in posts] == [None, None, True]
    items = aws["dynamodb"].scan(TableName="state")["Items"]
    (thread,) = [i for i in items if i["pk"]["S"].startswith("thread#")]
    assert thread["pk"]["S"] == "thread#flux-system/slack#default#HelmRelease/flux-system/podinfo"
    assert thread["ts"]["S"] == "1.1" and int(thread["expires_at"]["N"]) > time.time() + 6 * 86400
