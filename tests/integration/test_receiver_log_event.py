"""POWERTOOLS_LOGGER_LOG_EVENT=true on the receiver: the event is logged, its token in no form."""

from __future__ import annotations

import base64
import io
import json
import logging
from urllib.parse import quote

import pytest
import test_lambda_pipeline as pipeline
from test_lambda_pipeline import TOKEN, Context, api_event, body_of, drain

aws = pipeline.aws  # the fixture: moto SQS, DynamoDB, Secrets Manager, SSM and both handlers


@pytest.fixture
def log_output(aws, monkeypatch):
    stream = io.StringIO()
    logger = aws["receiver"].logger
    monkeypatch.setattr(logger.registered_handler, "stream", stream)
    previous = logger._logger.level
    logger._logger.setLevel(logging.INFO)  # other tests may have raised the shared logger's level
    yield stream
    logger._logger.setLevel(previous)


def token_event(path_token: str) -> dict:
    event = api_event(body_of(), path=f"/{path_token}")
    event["routeKey"] = event["requestContext"]["routeKey"] = f"POST /{path_token}"
    event["path"] = f"/{path_token}"  # payload v1 fields, as a hand-made or REST API event has
    event["pathParameters"] = {"proxy": path_token}
    return event


@pytest.fixture(params=["true", "1"])
def switch(request, monkeypatch):
    """Set before the handler is loaded, as on Lambda (Powertools reads it when decorating)."""
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", request.param)


@pytest.mark.parametrize("path_token", [TOKEN, TOKEN[:-1]])  # the right token, and a near miss
def test_the_logged_event_carries_no_form_of_the_token(switch, aws, log_output, path_token):
    answer = aws["receiver"].lambda_handler(token_event(path_token), Context())
    assert answer["statusCode"] == (202 if path_token == TOKEN else 401)
    logged = log_output.getvalue()
    for form in (path_token, quote(path_token, safe=""), base64.b64encode(path_token.encode()).decode()):
        assert form not in logged
    lines = [json.loads(line) for line in logged.splitlines()]
    (shown,) = [line["message"] for line in lines if isinstance(line.get("message"), dict)]
    assert shown["rawPath"] == shown["requestContext"]["http"]["path"] == shown["path"] == "/***"
    assert shown["pathParameters"] == {"proxy": "***"} and shown["routeKey"] == "POST /***"
    assert json.loads(shown["body"])["involvedObject"]["name"] == "apps"  # the rest is still there
    assert len(drain(aws)) == (1 if path_token == TOKEN else 0)


def test_without_the_switch_no_event_is_logged(aws, log_output, monkeypatch):
    monkeypatch.delenv("POWERTOOLS_LOGGER_LOG_EVENT", raising=False)
    assert aws["receiver"].lambda_handler(token_event(TOKEN), Context())["statusCode"] == 202
    logged = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert not any(isinstance(line.get("message"), dict) for line in logged)  # accepted events log at DEBUG
    assert TOKEN not in log_output.getvalue()
