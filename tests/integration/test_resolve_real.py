"""Provider fluxnotify.io/resolve end to end: against a real Alertmanager (resolved in its API after
the recovery event), an Opsgenie capture server (create, then close by alias), through the
dispatcher, through `fluxnotify serve` (a real subprocess, with an Event API v1 event too) and
through the Lambda handlers on moto (state in DynamoDB)."""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request

import boto3
import pytest
from exthelpers import Harness
from moto import mock_aws
from statetable import create_state_table
from test_alertmanager_real import BINARY, Server, start
from test_extensions_lambda import records
from test_extensions_serve import query, stop, wait_until
from test_extensions_serve import start as start_serve
from test_lambda_pipeline import Context, api_event, load_handler
from test_serve import free_port, post

V = "notification.toolkit.fluxcd.io/v1beta3"
GENIE_KEY = "genie-resolve-key-31f0"
TOKEN = "lambda-resolve-token-0123456789"


@pytest.fixture(scope="module")
def am(tmp_path_factory):
    if not os.access(BINARY, os.X_OK):
        pytest.skip("prometheus-alertmanager is not installed")
    yield from start(tmp_path_factory.mktemp("am-resolve"), None, "http")


def flux_event(name: str, severity: str, reason: str, **extra) -> dict:
    return {"involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": name,
                               "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
            "severity": severity, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "message": f"{name}: {reason}", "reason": reason, "metadata": {},
            "reportingController": "kustomize-controller", **extra}


def active(server: Server, name: str) -> list[dict]:
    return [a for a in server.get_alerts() if a["labels"].get("name") == name and a["status"]["state"] == "active"]


def poll(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            return value
        time.sleep(0.1)
    return value


def manifests(am_url: str, genie_url: str, hook_url: str = "http://127.0.0.1:1") -> str:
    def provider(name: str, spec: str) -> str:
        return (f"apiVersion: {V}\nkind: Provider\nmetadata: {{name: {name}, namespace: flux-system, uid: {name}-uid, "
                f"annotations: {{fluxnotify.io/resolve: 'true'}}}}\nspec: {spec}\n---\n")

    def alert(name: str) -> str:
        return (f"apiVersion: {V}\nkind: Alert\nmetadata: {{name: {name}, namespace: flux-system}}\n"
                f"spec: {{providerRef: {{name: {name}}}, eventSources: [{{kind: Kustomization, name: '*'}}]}}\n---\n")

    return (f"apiVersion: v1\nkind: Secret\nmetadata: {{name: genie, namespace: flux-system}}\n"
            f"stringData: {{token: {GENIE_KEY}}}\n---\n"
            + provider("am", f'{{type: alertmanager, address: "{am_url}"}}') + alert("am")
            + provider("genie", f'{{type: opsgenie, address: "{genie_url}", secretRef: {{name: genie}}}}')
            + alert("genie")
            + f"apiVersion: {V}\nkind: Provider\nmetadata: {{name: hook, namespace: flux-system}}\n"
              f'spec: {{type: generic, address: "{hook_url}"}}\n---\n' + alert("hook"))


def status_json(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=5) as answer:
        return json.loads(answer.read())


def alias(name: str, reason: str) -> str:
    return hashlib.sha256(f"genie-uid/Kustomization/flux-system/{name}/{reason}".encode()).hexdigest()


def test_alertmanager_alert_fires_then_is_resolved_by_the_recovery(am):
    harness = Harness(manifests(am.alerts_url, "http://127.0.0.1:1/v2/alerts"))
    harness.send(flux_event("web", "error", "HealthCheckFailed"))
    firing = poll(lambda: active(am, "web"))
    assert [a["labels"]["alertname"] for a in firing] == ["FluxKustomizationHealthcheckfailed"]
    assert firing[0]["labels"]["severity"] == "error"
    harness.send(flux_event("web", "info", "ReconciliationSucceeded"))
    assert poll(lambda: not active(am, "web")), am.get_alerts()
    # Resolved, not expired: Alertmanager took endsAt, so the alert left its active list at once.
    assert [a for a in am.get_alerts() if a["labels"].get("name") == "web"] == []
    # Nothing open any more: the next info event is an ordinary (info) alert, as without the annotation.
    harness.send(flux_event("web", "info", "ReconciliationSucceeded"))
    (info,) = poll(lambda: active(am, "web"))
    assert info["labels"]["severity"] == "info"


def test_through_serve_alertmanager_opsgenie_and_an_event_api_v1_event(am, tmp_path, sink):
    config, db, port = tmp_path / "flux.yaml", tmp_path / "serve.db", free_port()
    config.write_text(manifests(am.alerts_url, sink.url + "/v2/alerts", sink.url + "/hook"))
    process = start_serve(config, db, port)
    url = f"http://127.0.0.1:{port}/"
    try:
        assert post(url, json.dumps(flux_event("api", "error", "ReconciliationFailed")).encode())[0] == 202
        assert poll(lambda: active(am, "api"))
        wait_until(lambda: query(db, "SELECT COUNT(DISTINCT key) FROM incidents") == [(2,)], 20, "markers not kept")
        assert status_json(port)["openIncidents"] == 2  # the status page's "Open incidents" card
        recovery = flux_event("api", "info", "ReconciliationSucceeded", action="Reconciled",
                              relatedObject={"kind": "GitRepository", "name": "repo"})
        assert post(url, json.dumps(recovery).encode())[0] == 202
        assert poll(lambda: not active(am, "api")), am.get_alerts()
        wait_until(lambda: query(db, "SELECT COUNT(*) FROM incidents") == [(0,)], 20, "markers not cleared")
        page = status_json(port)
        assert page["openIncidents"] == 0
        details = {r["provider"]: r["detail"] for r in page["recent"] if r["reason"] == "ReconciliationSucceeded"}
        assert details["flux-system/am"].startswith("resolves 1 open incident(s) of Kustomization/flux-system/api")
        assert details["flux-system/hook"] == ""
        status, answer = post(url, json.dumps({**recovery, "action": 5}).encode())
        assert status == 400 and answer["field"] == "action"
    finally:
        stop(process)
    genie = [r for r in sink.requests if r.path.startswith("/v2/alerts")]
    assert [r.path for r in genie] == ["/v2/alerts",
                                       f"/v2/alerts/{alias('api', 'ReconciliationFailed')}/close?identifierType=alias"]
    assert all(r.header("Authorization") == f"GenieKey {GENIE_KEY}" for r in genie)
    hook = [r.json() for r in sink.requests if r.path == "/hook"]
    assert [h.get("action") for h in hook] == [None, "Reconciled"]
    assert hook[1]["relatedObject"] == {"kind": "GitRepository", "name": "repo"}


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
        create_state_table(dynamodb)  # as template.yaml defines it
        secrets = boto3.client("secretsmanager")
        token_arn = secrets.create_secret(Name="webhook-token", SecretString=TOKEN)["ARN"]
        secrets.create_secret(Name="fluxnotify/flux-system/genie", SecretString=json.dumps({"token": GENIE_KEY}))
        ssm = boto3.client("ssm")
        provider = {"apiVersion": V, "kind": "Provider",
                    "metadata": {"name": "genie", "namespace": "flux-system", "uid": "genie-uid",
                                 "annotations": {"fluxnotify.io/resolve": "true"}},
                    "spec": {"type": "opsgenie", "address": sink.url + "/v2/alerts", "secretRef": {"name": "genie"}}}
        alert = {"apiVersion": V, "kind": "Alert", "metadata": {"name": "genie", "namespace": "flux-system"},
                 "spec": {"providerRef": {"name": "genie"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]}}
        ssm.put_parameter(Name="/fluxnotify/flux-system/Provider/genie", Type="String", Value=json.dumps(provider))
        ssm.put_parameter(Name="/fluxnotify/flux-system/Alert/genie", Type="String", Value=json.dumps(alert))
        for key, value in {"QUEUE_URL": queue, "DLQ_URL": dlq, "DEDUP_TABLE": "state", "STATE_TABLE": "state",
                           "WEBHOOK_TOKEN_SECRET": token_arn, "CONFIG_PREFIX": "/fluxnotify",
                           "SECRETS_PREFIX": "fluxnotify", "RATE_LIMIT_INTERVAL": "0"}.items():
            monkeypatch.setenv(key, value)
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()
        yield {"sqs": sqs, "queue": queue, "dlq": dlq, "dynamodb": dynamodb,
               "receiver": load_handler("receiver"), "dispatcher": load_handler("dispatcher")}


def through_lambda(aws, event: dict) -> None:
    answer = aws["receiver"].lambda_handler(api_event(json.dumps(event), path=f"/{TOKEN}"), Context())
    assert answer["statusCode"] == 202, answer
    batch = records(aws, wait=5)
    assert aws["dispatcher"].lambda_handler({"Records": batch}, Context()) == {"batchItemFailures": []}
    for record in batch:
        aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=record["receiptHandle"])


def incident_items(aws) -> list[dict]:
    items = aws["dynamodb"].scan(TableName="state")["Items"]
    return [item for item in items if item["pk"]["S"].startswith("incident#")]


def test_opsgenie_through_the_lambda_handlers_with_state_in_dynamodb(aws, sink):
    through_lambda(aws, flux_event("db", "error", "HealthCheckFailed"))
    (created,) = sink.wait_for(1)
    assert created.path == "/v2/alerts" and created.json()["alias"] == alias("db", "HealthCheckFailed")
    (item,) = incident_items(aws)
    assert item["pk"]["S"] == "incident#flux-system/genie#flux-system/genie#default#Kustomization/flux-system/db"
    assert int(item["expires_at"]["N"]) > time.time() + 29 * 24 * 3600
    through_lambda(aws, flux_event("db", "info", "ReconciliationSucceeded"))
    closed = sink.wait_for(2)[1]
    assert closed.path == f"/v2/alerts/{alias('db', 'HealthCheckFailed')}/close?identifierType=alias"
    assert closed.header("Authorization") == f"GenieKey {GENIE_KEY}"
    assert closed.json() == {"note": "db: ReconciliationSucceeded"}
    assert incident_items(aws) == []


def test_the_receiver_lambda_refuses_wrong_v1_types_and_queues_v1_fields(aws):
    for bad, field in (({"action": 5}, "action"), ({"relatedObject": "x"}, "relatedObject"),
                       ({"relatedObject": {"kind": 1}}, "relatedObject.kind")):
        body = json.dumps(flux_event("db", "info", "ReconciliationSucceeded", **bad))
        answer = aws["receiver"].lambda_handler(api_event(body, path=f"/{TOKEN}"), Context())
        assert answer["statusCode"] == 400 and json.loads(answer["body"])["field"] == field
    assert records(aws) == []
    good = flux_event("db", "info", "ReconciliationSucceeded", action="Applied", relatedObject={"name": "repo"})
    answer = aws["receiver"].lambda_handler(api_event(json.dumps(good), path=f"/{TOKEN}"), Context())
    assert answer["statusCode"] == 202
    (record,) = records(aws, wait=5)
    queued = json.loads(record["body"])["event"]
    assert queued["action"] == "Applied" and queued["relatedObject"] == {"name": "repo"}
