"""End to end on the Lambda handlers: API Gateway event → ReceiverFunction → SQS (moto)
→ DispatcherFunction (config from moto's SSM + Secrets Manager) → real HTTP servers."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import importlib.util
import json
import logging
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "s3cr3t-webhook-token-0123456789"
SLACK_PATH = "/services/T0001/B0001/slacksecretpath"


def load_handler(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_app", ROOT / "functions" / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Context:
    function_name = "fluxnotify-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:fluxnotify-test"
    aws_request_id = "req-1"


def api_event(body: bytes | str, *, path: str = f"/{TOKEN}", method: str = "POST", headers=None, b64=False):
    event = json.loads((ROOT / "events" / "api-kustomization-reconciled.json").read_text())
    event["rawPath"] = path
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["headers"] = {"content-type": "application/json", **(headers or {})}
    raw = body.encode() if isinstance(body, str) else body
    event["body"] = base64.b64encode(raw).decode() if b64 else raw.decode("utf-8", "replace")
    event["isBase64Encoded"] = b64
    return event


def manifest_parameters(sink_url: str) -> dict[str, dict]:
    provider_slack = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
        "metadata": {"name": "slack", "namespace": "flux-system"},
        "spec": {"type": "slack", "channel": "ops", "secretRef": {"name": "slack-url"}},
    }
    provider_generic = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta2", "kind": "Provider",
        "metadata": {"name": "audit", "namespace": "flux-system"},
        "spec": {"type": "generic-hmac", "address": f"{sink_url}/audit", "secretRef": {"name": "audit-key"}},
    }
    alert = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
        "metadata": {"name": "all", "namespace": "flux-system"},
        "spec": {"providerRef": {"name": "slack"}, "summary": "prod",
                 "eventSources": [{"kind": "Kustomization", "name": "*"}]},
    }
    audit_alert = {
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
        "metadata": {"name": "audit", "namespace": "flux-system"},
        "spec": {"providerRef": {"name": "audit"}, "eventSources": [{"kind": "Kustomization", "name": "apps"}]},
    }
    return {
        "/fluxnotify/flux-system/Provider/slack": provider_slack,
        "/fluxnotify/flux-system/Provider/audit": provider_generic,
        "/fluxnotify/flux-system/Alert/all": alert,
        "/fluxnotify/flux-system/Alert/audit": audit_alert,
    }


@pytest.fixture
def aws(monkeypatch, sink):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="events")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName="dedup", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        secrets = boto3.client("secretsmanager")
        token_arn = secrets.create_secret(Name="webhook-token", SecretString=TOKEN)["ARN"]
        secrets.create_secret(Name="fluxnotify/flux-system/slack-url",
                              SecretString=json.dumps({"address": sink.url + SLACK_PATH}))
        secrets.create_secret(Name="fluxnotify/flux-system/audit-key",
                              SecretString=json.dumps({"token": "hmac-key-42"}))
        ssm = boto3.client("ssm")
        for name, manifest in manifest_parameters(sink.url).items():
            ssm.put_parameter(Name=name, Type="String", Value=json.dumps(manifest))
        for key, value in {
            "QUEUE_URL": queue, "DLQ_URL": dlq, "DEDUP_TABLE": "dedup", "WEBHOOK_TOKEN_SECRET": token_arn,
            "CONFIG_PREFIX": "/fluxnotify", "SECRETS_PREFIX": "fluxnotify", "RATE_LIMIT_INTERVAL": "300",
        }.items():
            monkeypatch.setenv(key, value)
        yield {"sqs": sqs, "queue": queue, "dlq": dlq, "receiver": load_handler("receiver"),
               "dispatcher": load_handler("dispatcher")}


def drain(aws) -> list[dict]:
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10).get("Messages", [])
    return [
        {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
         "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
         "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:events",
         "awsRegion": "eu-west-1"}
        for m in messages
    ]


def body_of(name: str = "kustomization-reconciled.json") -> str:
    return (ROOT / "events" / "bodies" / name).read_text()


def test_event_travels_from_http_to_slack_and_generic_hmac(aws, sink):
    answer = aws["receiver"].lambda_handler(api_event(body_of()), Context())
    assert answer["statusCode"] == 202, answer
    assert json.loads(answer["body"])["status"] == "queued"
    assert answer["headers"]["X-RateLimit-Limit"] == "1"

    records = drain(aws)
    assert len(records) == 1
    result = aws["dispatcher"].lambda_handler({"Records": records}, Context())
    assert result == {"batchItemFailures": []}

    captured = {r.path: r for r in sink.wait_for(2)}
    slack = captured[SLACK_PATH]
    assert slack.method == "POST"
    assert slack.header("Content-Type") == "application/json"
    payload = slack.json()
    assert payload["channel"] == "ops"
    assert payload["username"] == "kustomize-controller"
    attachment = payload["attachments"][0]
    assert attachment["author_name"] == "kustomization/apps.flux-system"
    assert attachment["color"] == "good"
    assert attachment["fallback"] == "kustomization/apps.flux-system: Deployment/apps/podinfo configured"
    assert [f["title"] for f in attachment["fields"]] == ["commit", "revision", "summary"]
    assert attachment["fields"][2]["value"] == "prod"

    audit = captured["/audit"]
    expected = hmac.new(b"hmac-key-42", audit.body, hashlib.sha256).hexdigest()
    assert audit.header("X-Signature") == f"sha256={expected}"
    assert audit.header("Gotk-Component") == "kustomize-controller"
    sent = audit.json()
    assert sent["metadata"] == {
        "commit": "a1afe267b54f38b46b487f6e938a6fd508278c07",
        "revision": "main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07",
    }
    assert sent["timestamp"] == "2026-11-25T10:15:30Z"


def test_hmac_signed_request_without_path_token_is_accepted(aws):
    body = body_of().encode()
    signature = "sha256=" + hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    answer = aws["receiver"].lambda_handler(api_event(body, path="/", headers={"x-signature": signature}), Context())
    assert answer["statusCode"] == 202
    assert len(drain(aws)) == 1


def test_duplicate_inside_window_gets_429_with_reference_headers(aws):
    first = aws["receiver"].lambda_handler(api_event(body_of()), Context())
    second = aws["receiver"].lambda_handler(api_event(body_of()), Context())
    assert first["statusCode"] == 202
    assert second["statusCode"] == 429
    assert second["headers"]["Retry-After"] == second["headers"]["X-RateLimit-Reset"]
    assert second["headers"]["X-RateLimit-Reset"].endswith(" UTC")
    assert len(drain(aws)) == 1


def test_failed_provider_is_retried_alone(aws, sink):
    sink.handler = lambda r: (503, {"Retry-After": "3"}, b"busy") if r.path == "/audit" else (200, {}, b"ok")
    aws["receiver"].lambda_handler(api_event(body_of()), Context())
    result = aws["dispatcher"].lambda_handler({"Records": drain(aws)}, Context())
    assert result == {"batchItemFailures": []}
    assert sorted(r.path for r in sink.requests) == ["/audit", SLACK_PATH]
    follow_up = aws["sqs"].receive_message(QueueUrl=aws["queue"], WaitTimeSeconds=0, MaxNumberOfMessages=10,
                                           AttributeNames=["All"])
    # Delayed by Retry-After: not visible yet, but counted as delayed.
    attributes = aws["sqs"].get_queue_attributes(QueueUrl=aws["queue"], AttributeNames=["All"])["Attributes"]
    assert follow_up.get("Messages", []) == []
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_permanent_failure_lands_in_dlq_with_reason_and_no_secret(aws, sink):
    sink.handler = lambda r: (404, {}, b"no_service") if r.path == SLACK_PATH else (200, {}, b"ok")
    aws["receiver"].lambda_handler(api_event(body_of()), Context())
    aws["dispatcher"].lambda_handler({"Records": drain(aws)}, Context())
    letters = aws["sqs"].receive_message(QueueUrl=aws["dlq"], MaxNumberOfMessages=10)["Messages"]
    assert len(letters) == 1
    letter = json.loads(letters[0]["Body"])
    assert letter["provider"] == "flux-system/slack"
    assert letter["targets"] == ["flux-system/all"]
    assert letter["error"].endswith("/… answered 404 Not Found: no_service")  # issue 24.10: user terms
    assert letter["error"].startswith("POST http://127.0.0.1:")
    assert "slacksecretpath" not in letters[0]["Body"]


def test_poison_record_goes_to_dlq_without_failing_the_batch(aws, sink):
    aws["receiver"].lambda_handler(api_event(body_of()), Context())
    records = drain(aws)
    poison = copy.deepcopy(records[0])
    poison["messageId"] = "poison-1"
    poison["body"] = "{not json"
    result = aws["dispatcher"].lambda_handler({"Records": [poison, *records]}, Context())
    assert result == {"batchItemFailures": []}
    assert len(sink.wait_for(2)) == 2
    letters = aws["sqs"].receive_message(QueueUrl=aws["dlq"], MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["reason"] for m in letters] == ["undecodable message"]


BAD_INPUTS = [
    ("wrong token", dict(path="/nope"), 401, None),
    ("no token", dict(path="/"), 401, None),
    ("bad signature", dict(path="/", headers={"x-signature": "sha256=00"}), 401, None),
    ("GET", dict(method="GET"), 405, None),
    ("nested path", dict(path=f"/{TOKEN}/extra"), 404, None),
    ("not json", dict(body="{oops"), 400, None),
    ("empty body", dict(body=""), 400, None),
    ("array", dict(body="[1,2]"), 400, "event"),
    ("severity type", dict(patch={"severity": 5}), 400, "severity"),
    ("bad severity", dict(patch={"severity": "warning"}), 400, "severity"),
    ("bad timestamp", dict(patch={"timestamp": "yesterday"}), 400, "timestamp"),
    ("missing kind", dict(patch={"involvedObject": {"name": "a", "namespace": "b"}}), 400, "involvedObject.kind"),
    ("metadata value", dict(patch={"metadata": {"a": 1}}), 400, "metadata['a']"),
    ("timestamp before year 1 in UTC", dict(patch={"timestamp": "0001-01-01T00:00:00+01:00"}), 400, "timestamp"),
    ("lone surrogate", dict(body=body_of().replace('"message":', '"message":"\\ud800","x":')), 400, None),
    ("oversized", dict(body='{"message":"' + "x" * 300_000 + '"}'), 413, None),
    ("text/plain", dict(headers={"content-type": "text/plain"}), 415, None),
]


@pytest.mark.parametrize("name,options,status,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_refused_input_answers_4xx_json_and_queues_nothing(aws, name, options, status, field):
    options = dict(options)
    body = options.pop("body", None)
    patch = options.pop("patch", None)
    if body is None:
        event = json.loads(body_of())
        event.update(patch or {})
        body = json.dumps(event)
    answer = aws["receiver"].lambda_handler(api_event(body, **options), Context())
    assert answer["statusCode"] == status, answer
    error = json.loads(answer["body"])
    assert isinstance(error.get("error") or error.get("message"), str)
    if field:
        assert error["field"] == field
    assert TOKEN not in answer["body"]
    assert drain(aws) == []


def test_base64_encoded_body_is_decoded(aws):
    answer = aws["receiver"].lambda_handler(api_event(body_of(), b64=True), Context())
    assert answer["statusCode"] == 202
    assert len(drain(aws)) == 1


def test_sample_sqs_batch_event_is_valid_for_the_dispatcher(aws, sink):
    batch = json.loads((ROOT / "events" / "sqs-batch.json").read_text())
    result = aws["dispatcher"].lambda_handler(batch, Context())
    assert result == {"batchItemFailures": []}
    # Kustomization/apps matches both alerts; the HelmRelease and GitRepository match none.
    assert sorted(r.path for r in sink.wait_for(2)) == ["/audit", SLACK_PATH]


def emitted_metrics(text: str) -> list[tuple[str, dict]]:
    """(metric name, dimensions) for every EMF document printed."""
    found = []
    for line in text.splitlines():
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if not isinstance(document, dict) or "_aws" not in document:
            continue
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "fluxnotify"
            dims = {d: document[d] for group in directive["Dimensions"] for d in group if d != "service"}
            for metric in directive["Metrics"]:
                found.append((metric["Name"], dims))
    return found


def test_metrics_for_each_outcome(aws, sink, capsys):
    sink.handler = lambda r: (500, {}, b"down") if r.path == "/audit" else (200, {}, b"ok")
    receiver, dispatcher = aws["receiver"], aws["dispatcher"]
    receiver.lambda_handler(api_event(body_of()), Context())  # queued
    receiver.lambda_handler(api_event(body_of()), Context())  # duplicate
    receiver.lambda_handler(api_event("{bad"), Context())  # rejected
    receiver.lambda_handler(api_event(body_of(), path="/wrong"), Context())  # unauthorized
    dispatcher.lambda_handler({"Records": drain(aws)}, Context())
    metrics = emitted_metrics(capsys.readouterr().out)
    names = [name for name, _ in metrics]
    assert "EventsReceived" not in names and "EventsQueued" not in names  # AWS counts requests and queued messages
    assert names.count("EventsDuplicate") == 1
    assert ("EventsRejected", {"Reason": "invalid_event"}) in metrics
    assert ("EventsRejected", {"Reason": "unauthorized"}) in metrics
    assert ("DeliveryLatency", {"ProviderType": "slack"}) in metrics  # one value per delivery
    assert "DeliveriesSent" not in names
    assert ("DeliveriesFailed", {"ProviderType": "generic-hmac"}) in metrics
    assert ("DeliveriesRetried", {"ProviderType": "generic-hmac"}) in metrics
    assert ("DeliveryLatency", {"ProviderType": "generic-hmac"}) not in metrics  # a failure is no delivery
    assert "DeliveriesDeadLettered" not in names


def test_skips_and_dead_letters_are_measured_and_logged_with_the_rule(aws, sink, capsys, caplog):
    caplog.set_level(logging.DEBUG, logger="fluxnotify")  # skips are DEBUG on Lambda, counted in the summary
    event = json.loads(body_of())
    event["metadata"]["kustomize.toolkit.fluxcd.io/commit_status"] = "update"
    sink.handler = lambda r: (400, {}, b"bad") if r.path == "/audit" else (200, {}, b"ok")
    aws["receiver"].lambda_handler(api_event(json.dumps(event)), Context())
    aws["dispatcher"].lambda_handler({"Records": drain(aws)}, Context())
    out = capsys.readouterr().out
    metrics = emitted_metrics(out)
    assert ("DeliveriesSkipped", {"ProviderType": "slack"}) in metrics
    assert ("DeliveriesDeadLettered", {"ProviderType": "generic-hmac"}) in metrics
    skip = next(record for record in caplog.records if record.getMessage() == "skipped by rule")
    assert skip.rule == "commit status update events are only sent to git and generic providers"
    assert skip.provider == "flux-system/slack" and skip.levelno == logging.DEBUG
    (summary,) = [record for record in caplog.records if record.getMessage() == "batch handled"]
    assert summary.levelno == logging.INFO and summary.skipped >= 1 and summary.dead == 1 and summary.records == 1
