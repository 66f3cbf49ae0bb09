"""The receiver handler on moto with a cluster → tokens secret: the cluster travels to providers."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from types import SimpleNamespace

import boto3
import test_lambda_pipeline as pipeline
from test_lambda_pipeline import SLACK_PATH, Context, api_event, body_of, drain

aws = pipeline.aws  # the fixture: moto SQS, DynamoDB, Secrets Manager, SSM and both handlers

CLUSTERS = {"prod-eu": ["eu-old-token", "eu-new-token"], "staging": ["staging-token"]}


def use_clusters(monkeypatch) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="clusters", SecretString=json.dumps(CLUSTERS))["ARN"]
    monkeypatch.setenv("WEBHOOK_TOKEN_SECRET", arn)


def test_same_event_from_two_clusters_reaches_slack_twice_with_its_cluster(aws, sink, monkeypatch):
    use_clusters(monkeypatch)
    receive = aws["receiver"].lambda_handler
    assert receive(api_event(body_of(), path="/eu-old-token"), Context())["statusCode"] == 202
    assert receive(api_event(body_of(), path="/staging-token"), Context())["statusCode"] == 202
    # The other token of prod-eu is the same cluster: a duplicate inside the window.
    assert receive(api_event(body_of(), path="/eu-new-token"), Context())["statusCode"] == 429
    records = drain(aws)
    assert sorted(json.loads(r["body"])["cluster"] for r in records) == ["prod-eu", "staging"]
    assert aws["dispatcher"].lambda_handler({"Records": records}, Context()) == {"batchItemFailures": []}
    slack = [r.json() for r in sink.wait_for(4) if r.path == SLACK_PATH]
    shown = sorted(f["value"] for m in slack for f in m["attachments"][0]["fields"] if f["title"] == "cluster")
    assert shown == ["prod-eu", "staging"]


def test_unknown_token_is_401_and_the_request_id_correlates_the_logs(aws, monkeypatch):
    use_clusters(monkeypatch)
    stream = io.StringIO()
    logger = aws["receiver"].logger
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    # Other tests (the CLI's configure_logging) may have raised the shared logger's level;
    # setLevel (not the attribute) also clears the child loggers' cached levels.
    previous = logger._logger.level
    logger._logger.setLevel(logging.DEBUG)  # an accepted event's line is a DEBUG one
    try:
        answer = aws["receiver"].lambda_handler(api_event(body_of(), path="/default-guess"), Context())
        assert answer["statusCode"] == 401 and "default-guess" not in answer["body"]
        assert drain(aws) == []
        accepted = aws["receiver"].lambda_handler(api_event(body_of(), path="/staging-token"), Context())
        assert accepted["statusCode"] == 202
    finally:
        logger._logger.setLevel(previous)
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert logged and {line.get("correlation_id") for line in logged} == {"c6af9ac6-7b61-11e6-9a41-93e8deadbeef"}


# --- issue 21: no cluster silences or impersonates another; signatures cost one cluster ---------

REVISION = "kustomize.toolkit.fluxcd.io/revision"


def use_tokens(monkeypatch, tokens: dict) -> None:
    arn = boto3.client("secretsmanager").create_secret(Name="tokens-21", SecretString=json.dumps(tokens))["ARN"]
    monkeypatch.setenv("WEBHOOK_TOKEN_SECRET", arn)


def audited(sink, count: int) -> list[dict]:
    return [r.json() for r in sink.wait_for(count) if r.path == "/audit"]


def test_the_default_cluster_cannot_silence_prod_with_a_crafted_revision_or_message(aws, sink, monkeypatch):
    use_tokens(monkeypatch, {"default": ["default-token"], "prod": ["prod-token"]})
    real = json.loads(body_of())
    unrevised = {**real, "metadata": {k: v for k, v in real["metadata"].items() if k != REVISION}}
    crafted_revision = {**real, "metadata": {**real["metadata"], REVISION: real["metadata"][REVISION] + "/cluster=prod"}}
    crafted_message = {**unrevised, "message": unrevised["message"] + "/cluster=prod"}
    receive = aws["receiver"].lambda_handler
    for token, event in [("default-token", crafted_revision), ("prod-token", real),
                         ("default-token", crafted_message), ("prod-token", unrevised)]:
        assert receive(api_event(json.dumps(event), path=f"/{token}"), Context())["statusCode"] == 202
    records = drain(aws)
    assert len(records) == 4
    assert aws["dispatcher"].lambda_handler({"Records": records}, Context()) == {"batchItemFailures": []}
    delivered = {(m["metadata"].get("cluster"), m["metadata"].get("revision"), m["message"][-13:])
                 for m in audited(sink, 8)}
    revision, tail = real["metadata"][REVISION], real["message"][-13:]
    assert delivered == {(None, revision + "/cluster=prod", tail), ("prod", revision, tail),
                         (None, None, "/cluster=prod"), ("prod", None, tail)}


def test_dev_cannot_make_its_notifications_name_prod(aws, sink, monkeypatch):
    use_tokens(monkeypatch, {"prod": ["prod-token"], "dev": ["dev-token"]})
    forged = json.loads(body_of())
    forged["metadata"].update({"event.toolkit.fluxcd.io/cluster": "prod", "kustomize.toolkit.fluxcd.io/cluster": "prod"})
    assert aws["receiver"].lambda_handler(api_event(json.dumps(forged), path="/dev-token"), Context())["statusCode"] == 202
    assert aws["dispatcher"].lambda_handler({"Records": drain(aws)}, Context()) == {"batchItemFailures": []}
    captured = sink.wait_for(2)
    slack = next(r.json() for r in captured if r.path == SLACK_PATH)
    shown = {f["title"]: f["value"] for f in slack["attachments"][0]["fields"]}
    assert shown["cluster"] == "dev"
    assert next(r.json() for r in captured if r.path == "/audit")["metadata"]["cluster"] == "dev"


def count_hmacs(monkeypatch) -> list[bytes]:
    from fluxnotify.ingress import clusters

    keys: list[bytes] = []

    def counting(key, message=None, digestmod=None):
        keys.append(key)
        return hmac.new(key, message, digestmod)

    # The module's own name only: botocore signs its requests with hmac too.
    monkeypatch.setattr(clusters, "hmac", SimpleNamespace(new=counting, compare_digest=hmac.compare_digest))
    return keys


MANY = {"default": ["default-token"], **{f"c{i}": [f"c{i}-old", f"c{i}-new"] for i in range(199)}}
BOGUS = {"x-signature": "sha256=" + "0f" * 32}


def test_a_4_mb_body_with_a_bogus_signature_is_413_before_any_hmac(aws, monkeypatch):
    use_tokens(monkeypatch, MANY)
    keys = count_hmacs(monkeypatch)
    answer = aws["receiver"].lambda_handler(api_event("x" * (4 * 1024 * 1024), path="/", headers=BOGUS), Context())
    assert answer["statusCode"] == 413 and keys == [] and drain(aws) == []


def test_a_bogus_signature_costs_one_hmac_with_200_clusters_and_a_hint_picks_the_key(aws, monkeypatch):
    use_tokens(monkeypatch, MANY)
    keys = count_hmacs(monkeypatch)
    receive = aws["receiver"].lambda_handler
    assert receive(api_event(body_of(), path="/", headers=BOGUS), Context())["statusCode"] == 401
    assert keys == [b"default-token"]
    keys.clear()
    body = body_of().encode()
    signed = {"x-signature": "sha256=" + hmac.new(b"c7-new", body, hashlib.sha256).hexdigest()}
    assert receive(api_event(body, path="/", headers={**signed, "x-fluxnotify-cluster": "c7"}), Context())["statusCode"] == 202
    assert receive(api_event(body, path="/c8", headers={**signed}), Context())["statusCode"] == 401
    assert keys == [b"c7-old", b"c7-new", b"c8-old", b"c8-new"]
    assert [json.loads(r["body"])["cluster"] for r in drain(aws)] == ["c7"]
