"""Status on AWS, end to end on the Lambda handlers with moto: API Gateway event → receiver
→ SQS → dispatcher (a good and a failing Provider) → the state table; then
`fluxnotify status --from-aws` and `validate --from-aws` read it back."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import boto3
import fixtures.status.status_fixtures as fx
import pytest
import yaml
from moto import mock_aws
from statetable import create_state_table

from fluxnotify.ops.cli import main

ROOT = Path(__file__).resolve().parents[2]


def load_handler(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_status_app", ROOT / "functions" / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Context:
    function_name = "fluxnotify-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:fluxnotify-test"
    aws_request_id = "req-1"


def api_event(body: str) -> dict:
    event = json.loads((ROOT / "events" / "api-kustomization-reconciled.json").read_text())
    event.update(rawPath="/", body=body, isBase64Encoded=False, headers={"content-type": "application/json"})
    event["requestContext"]["http"].update(path="/", method="POST")
    return event


@pytest.fixture
def aws(monkeypatch, sink):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("WEBHOOK_TOKEN_SECRET", raising=False)
    with mock_aws():
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="events")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
        create_state_table(boto3.client("dynamodb"))
        ssm = boto3.client("ssm")
        for manifest in yaml.safe_load_all(fx.manifests(sink.url)):
            meta = manifest["metadata"]
            ssm.put_parameter(Name=f"/fluxnotify/{meta['namespace']}/{manifest['kind']}/{meta['name']}",
                              Type="String", Value=json.dumps(manifest))
        for key, value in {"QUEUE_URL": queue, "DLQ_URL": dlq, "STATE_TABLE": "state", "DEDUP_TABLE": "state",
                           "CONFIG_PREFIX": "/fluxnotify", "SECRETS_PREFIX": "fluxnotify",
                           "RATE_LIMIT_INTERVAL": "0"}.items():
            monkeypatch.setenv(key, value)
        yield {"sqs": sqs, "queue": queue, "dlq": dlq}


def records(aws) -> list[dict]:
    messages = aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)["Messages"]
    return [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
             "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:events",
             "awsRegion": "eu-west-1"} for m in messages]


@pytest.fixture
def delivered(aws, sink):
    """Two events through both handlers: 'good' takes them, 'bad' answers 400 (dead letters)."""
    sink.handler = fx.answer
    receiver, dispatcher = load_handler("receiver"), load_handler("dispatcher")
    for text in ("first", "second"):
        answer = receiver.lambda_handler(api_event(json.dumps({**fx.event(), "message": text})), Context())
        assert answer["statusCode"] == 202, answer
    batch = records(aws)
    result = dispatcher.lambda_handler({"Records": batch}, Context())
    assert result == {"batchItemFailures": []}
    for record in batch:  # what the event source mapping does after a successful batch
        aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=record["receiptHandle"])
    assert sorted(r.path for r in sink.requests) == ["/bad", "/bad", "/good", "/good"]
    return aws


def test_status_from_aws_shows_the_counts_the_error_and_the_dead_letters(delivered, capsys):
    aws = delivered
    code = main(["status", "--from-aws", "--queue-url", aws["queue"], "--dlq-url", aws["dlq"], "-o", "json"])
    assert code == 0
    shown = json.loads(capsys.readouterr().out)
    objects = {(o["kind"], o["name"]): o for o in shown["objects"]}
    good, bad = objects[("Provider", "flux-system/good")], objects[("Provider", "flux-system/bad")]
    assert good["lastOutcome"] == "delivered" and good["lastHour"]["delivered"] == 2 and not good["failing"]
    assert good["lastDelivered"]["object"] == "Kustomization/flux-system/apps"
    assert bad["lastOutcome"] == "dead-lettered" and bad["last24h"]["dead-lettered"] == 2 and bad["failing"]
    assert bad["lastError"].endswith(fx.BAD_ERROR)
    assert objects[("Alert", "flux-system/bad-alert")]["lastHour"]["dead-lettered"] == 2
    assert shown["queue"] == {"depth": 0, "oldestAgeSeconds": None, "deadLetters": 2}

    assert main(["status", "--from-aws", "--queue-url", aws["queue"], "--dlq-url", aws["dlq"]]) == 0
    table = capsys.readouterr().out
    assert "\033[" not in table  # not a terminal: no colour
    bad_line = next(line for line in table.splitlines() if line.startswith("Provider  flux-system/bad "))
    assert "dead-lettered" in bad_line and "0/0/2" in bad_line and fx.BAD_ERROR in bad_line
    assert "dead letters: 2" in table


def test_validate_from_aws_adds_delivering_next_to_ready(delivered, capsys):
    assert main(["validate", "--from-aws", "-o", "json"]) == 0  # Delivering=False does not fail validate
    conditions = json.loads(capsys.readouterr().out)
    found = {(c["kind"], c["name"], c["type"]): c for c in conditions}
    assert found[("Provider", "flux-system/good", "Ready")]["status"] == "True"
    good = found[("Provider", "flux-system/good", "Delivering")]
    assert (good["status"], good["reason"]) == ("True", "Succeeded")
    bad = found[("Provider", "flux-system/bad", "Delivering")]
    assert (bad["status"], bad["reason"]) == ("False", "DeadLettered")
    assert bad["message"].endswith(fx.BAD_ERROR)
    kinds = [(c["name"], c["type"]) for c in conditions]
    ready = kinds.index(("flux-system/bad", "Ready"))
    assert kinds[ready + 1] == ("flux-system/bad", "Delivering")


def test_validate_text_output_prints_both_conditions(delivered, capsys):
    assert main(["validate", "--from-aws"]) == 0
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    bad = [line for line in lines if " Provider flux-system/bad " in line]  # after the file column
    assert "Ready=True" in bad[0]
    assert "Delivering=False DeadLettered: " in bad[1] and bad[1].endswith(fx.BAD_ERROR)
