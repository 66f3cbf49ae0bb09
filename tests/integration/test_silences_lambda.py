"""Silences on the Lambda handlers (moto): `silence add --table` mutes the matching events in
the DispatcherFunction; the silences item is read once per refresh, never per event; after
`silence expire` and the refresh the next event goes out."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from awscalls import AwsCalls, moto_items
from moto import mock_aws
from test_extensions_lambda import dispatch, post, records
from test_lambda_pipeline import load_handler

from fluxnotify.ops.cli import main
from fluxnotify.state.silences import DYNAMO_REFRESH
from fluxnotify.state.status_dynamo import DynamoStatus

TOKEN = "lambda-ext-token-0123456789"  # test_extensions_lambda.post signs with it
V = "notification.toolkit.fluxcd.io/v1beta3"


@pytest.fixture
def aws(monkeypatch, sink):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        boto3.setup_default_session()  # the handlers' clients come from it: counted
        calls = AwsCalls(boto3.DEFAULT_SESSION, moto_items()).install()
        sqs = boto3.client("sqs")
        queue, dlq = sqs.create_queue(QueueName="events")["QueueUrl"], sqs.create_queue(QueueName="dead")["QueueUrl"]
        boto3.client("dynamodb").create_table(
            TableName="state", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        token_arn = boto3.client("secretsmanager").create_secret(Name="webhook-token", SecretString=TOKEN)["ARN"]
        ssm = boto3.client("ssm")
        meta = {"name": "hook", "namespace": "flux-system"}
        ssm.put_parameter(Name="/fluxnotify/flux-system/Provider/hook", Type="String", Value=json.dumps(
            {"apiVersion": V, "kind": "Provider", "metadata": meta,
             "spec": {"type": "generic", "address": f"{sink.url}/hook"}}))
        ssm.put_parameter(Name="/fluxnotify/flux-system/Alert/hook", Type="String", Value=json.dumps(
            {"apiVersion": V, "kind": "Alert", "metadata": meta,
             "spec": {"providerRef": {"name": "hook"},
                      "eventSources": [{"kind": "Kustomization", "name": "*", "namespace": "*"}]}}))
        for key, value in {"QUEUE_URL": queue, "DLQ_URL": dlq, "DEDUP_TABLE": "state", "STATE_TABLE": "state",
                           "WEBHOOK_TOKEN_SECRET": token_arn, "CONFIG_PREFIX": "/fluxnotify",
                           "SECRETS_PREFIX": "fluxnotify", "RATE_LIMIT_INTERVAL": "0"}.items():
            monkeypatch.setenv(key, value)
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        yield {"sqs": sqs, "queue": queue, "calls": calls,
               "receiver": load_handler("receiver"), "dispatcher": load_handler("dispatcher")}


def _silence_reads(aws) -> int:
    return sum(1 for c in aws["calls"].calls if c.label == "silences" and c.operation == "GetItem")


def test_a_silence_mutes_the_dispatcher_until_it_is_expired(aws, sink, capsys):
    assert main(["silence", "add", "--table", "state", "--match", "namespace=apps,name=web-*", "--for", "2h",
                 "--comment", "db migration"]) == 0
    silence_id = capsys.readouterr().out.strip()
    before = _silence_reads(aws)
    for name in ("web-1", "web-2", "api", "web-3"):
        post(aws, name, reason="ReconciliationSucceeded", namespace="apps")
    for record in records(aws):
        dispatch(aws, [record])
    assert [r.json()["involvedObject"]["name"] for r in sink.wait_for(1)] == ["api"]
    assert _silence_reads(aws) - before == 1  # 4 events, 1 read of the silences item
    # the status in the state table names the rule: the Alert's last outcome, skipped by the silence
    (alert,) = [o for o in DynamoStatus("state", boto3.client("dynamodb")).objects() if o.kind == "Alert"]
    assert alert.last_outcome == "skipped" and alert.last_detail.startswith(f"silenced by {silence_id} until ")
    assert alert.last_detail.endswith(": db migration")

    assert main(["silence", "expire", silence_id, "--table", "state"]) == 0
    view = aws["dispatcher"].runner().handle.__self__.stores.silences
    post(aws, "web-4", reason="ReconciliationSucceeded", namespace="apps")
    dispatch(aws, records(aws))  # within the refresh: the warm dispatcher still mutes it
    assert len(sink.requests) == 1
    view.clock = lambda: time.time() + DYNAMO_REFRESH  # the refresh has passed
    post(aws, "web-5", reason="ReconciliationSucceeded", namespace="apps")
    dispatch(aws, records(aws))
    assert [r.json()["involvedObject"]["name"] for r in sink.wait_for(2)] == ["api", "web-5"]
    assert _silence_reads(aws) - before == 2
