"""fluxnotify's own types (email, mattermost, ntfy) end to end: through `fluxnotify serve` (a real
subprocess) and through the Lambda handlers on moto (SSM config, Secrets Manager Secrets, SQS),
to a real SMTP server with STARTTLS and AUTH and to capture HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from fixtures.tls_fixtures import pki
from moto import mock_aws
from smtpsink import SmtpSink
from test_lambda_pipeline import Context, api_event, load_handler
from test_serve import free_port, post, start

ROOT = Path(__file__).resolve().parents[2]
V = "notification.toolkit.fluxcd.io/v1beta3"
PASSWORD = "smtp-pa55word-e2e-0042"
NTFY_TOKEN = "tk_e2e0123456789abcdefghijklmno"
HOOK = "/hooks/xi1bq9ke6jbsdxi8mnz9b1gjbh"
WEBHOOK_TOKEN = "own-types-webhook-token-0123"
EVENT = json.loads((ROOT / "events" / "bodies" / "helmrelease-install-failed.json").read_text())
TITLE = f"HelmRelease {EVENT['involvedObject']['namespace']}/{EVENT['involvedObject']['name']}: {EVENT['reason']}"


@pytest.fixture
def smtp(tmp_path):
    pem = tmp_path / "smtp.pem"
    pem.write_text(pki()["cert"] + pki()["key"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    with SmtpSink(tls=context, logins={"flux-smtp": PASSWORD}) as sink:
        yield sink


def objects(smtp_port: int, sink_url: str) -> list[dict]:
    def provider(name: str, spec: dict) -> dict:
        return {"apiVersion": V, "kind": "Provider", "metadata": {"name": name, "namespace": "flux-system"},
                "spec": spec}

    def secret(name: str, data: dict) -> dict:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": "flux-system"},
                "stringData": data}

    found = [
        provider("mail", {"type": "email", "address": f"smtp://127.0.0.1:{smtp_port}", "channel": "ops@example.com",
                          "username": "flux@example.com", "secretRef": {"name": "smtp"},
                          "certSecretRef": {"name": "smtp-ca"}}),
        secret("smtp", {"username": "flux-smtp", "password": PASSWORD}),
        secret("smtp-ca", {"ca.crt": pki()["ca"]}),
        provider("mm", {"type": "mattermost", "secretRef": {"name": "mm-hook"}}),
        secret("mm-hook", {"address": sink_url + HOOK}),
        provider("push", {"type": "ntfy", "address": sink_url + "/flux-alerts", "secretRef": {"name": "ntfy"}}),
        secret("ntfy", {"token": NTFY_TOKEN}),
    ]
    for name in ("mail", "mm", "push"):
        alert = {"apiVersion": V, "kind": "Alert", "metadata": {"name": name, "namespace": "flux-system"},
                 "spec": {"providerRef": {"name": name}, "eventSources": [{"kind": "HelmRelease", "name": "*",
                                                                           "namespace": "*"}]}}
        found.append(alert)
    return found


def assert_arrived(smtp: SmtpSink, sink) -> None:
    [mail] = smtp.wait_for(1, timeout=30)
    assert (mail.tls, mail.login, mail.recipients) == (True, "flux-smtp", ["ops@example.com"])
    assert mail.message["Subject"] == f"[error] {TITLE}"
    assert EVENT["message"][:40] in mail.message.get_body(("plain",)).get_content()
    requests = sink.wait_for(2, timeout=30)
    by_path = {r.path: r for r in requests}
    hook = by_path[HOOK].json()["attachments"][0]
    assert (hook["title"], hook["color"]) == (TITLE, "danger")
    push = by_path["/"]
    assert push.header("Authorization") == f"Bearer {NTFY_TOKEN}"
    assert (push.json()["topic"], push.json()["title"], push.json()["priority"]) == ("flux-alerts", TITLE, 4)


def test_serve_delivers_the_three_types(tmp_path, smtp, sink):
    config = tmp_path / "flux.yaml"
    config.write_text("\n---\n".join(json.dumps(o) for o in objects(smtp.port, sink.url)))
    checked = subprocess.run([sys.executable, "-m", "fluxnotify.ops.cli", "validate", "-f", str(config)],
                             capture_output=True, text=True, timeout=60,
                             env={"PYTHONPATH": str(ROOT / "layers" / "notify"), "PATH": "/usr/bin:/bin"})
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("is a fluxnotify type; Flux's notification-controller would refuse it") == 3
    assert PASSWORD not in checked.stdout and NTFY_TOKEN not in checked.stdout
    port = free_port()
    process = start(config, tmp_path / "q.db", port)
    try:
        status, answer = post(f"http://127.0.0.1:{port}/", json.dumps(EVENT).encode())
        assert status == 202, answer
        assert_arrived(smtp, sink)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)


@pytest.fixture
def aws(monkeypatch, smtp, sink):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sqs = boto3.client("sqs")
        queue = sqs.create_queue(QueueName="events")["QueueUrl"]
        dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
        boto3.client("dynamodb").create_table(
            TableName="state", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        secrets, ssm = boto3.client("secretsmanager"), boto3.client("ssm")
        token_arn = secrets.create_secret(Name="webhook-token", SecretString=WEBHOOK_TOKEN)["ARN"]
        for obj in objects(smtp.port, sink.url):
            name = obj["metadata"]["name"]
            if obj["kind"] == "Secret":
                secrets.create_secret(Name=f"fluxnotify/flux-system/{name}", SecretString=json.dumps(obj["stringData"]))
            else:
                ssm.put_parameter(Name=f"/fluxnotify/flux-system/{obj['kind']}/{name}", Type="String",
                                  Value=json.dumps(obj))
        for key, value in {"QUEUE_URL": queue, "DLQ_URL": dlq, "DEDUP_TABLE": "state", "STATE_TABLE": "state",
                           "WEBHOOK_TOKEN_SECRET": token_arn, "CONFIG_PREFIX": "/fluxnotify",
                           "SECRETS_PREFIX": "fluxnotify", "RETRY_BASE_SECONDS": "0"}.items():
            monkeypatch.setenv(key, value)
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        yield {"sqs": sqs, "queue": queue, "dlq": dlq, "receiver": load_handler("receiver"),
               "dispatcher": load_handler("dispatcher")}


def sqs_records(aws, url_key: str = "queue") -> list[dict]:
    found = aws["sqs"].receive_message(QueueUrl=aws[url_key], MaxNumberOfMessages=10).get("Messages", [])
    return [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
             "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:events",
             "awsRegion": "eu-west-1"} for m in found]


def test_lambda_dispatcher_delivers_the_three_types(aws, smtp, sink):
    answer = aws["receiver"].lambda_handler(api_event(json.dumps(EVENT), path=f"/{WEBHOOK_TOKEN}"), Context())
    assert answer["statusCode"] == 202, answer
    batch = sqs_records(aws)
    assert len(batch) == 1
    assert aws["dispatcher"].lambda_handler({"Records": batch}, Context()) == {"batchItemFailures": []}
    assert_arrived(smtp, sink)


def test_lambda_dispatcher_retries_a_4xx_smtp_reply_for_email_only(aws, smtp, sink):
    smtp.respond("451 4.3.0 Mail server temporarily rejected message")
    aws["receiver"].lambda_handler(api_event(json.dumps(EVENT), path=f"/{WEBHOOK_TOKEN}"), Context())
    assert aws["dispatcher"].lambda_handler({"Records": sqs_records(aws)}, Context()) == {"batchItemFailures": []}
    assert len(sink.wait_for(2)) == 2 and smtp.messages == []
    [retry] = sqs_records(aws)
    assert "flux-system/mail" in retry["body"] and "flux-system/push" not in retry["body"]
    assert sqs_records(aws, "dlq") == []
    assert aws["dispatcher"].lambda_handler({"Records": [retry]}, Context()) == {"batchItemFailures": []}
    [mail] = smtp.wait_for(1)
    assert mail.message["Subject"] == f"[error] {TITLE}"
    assert len(sink.requests) == 2  # the chat targets were not sent the event again
