"""The receiver handler on moto with a cluster → tokens secret: the cluster travels to providers."""

from __future__ import annotations

import io
import json
import logging

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
