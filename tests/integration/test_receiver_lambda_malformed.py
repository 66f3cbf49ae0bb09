"""Issue 13.9, receiver side: the ReceiverFunction handler (moto SQS + DynamoDB + Secrets
Manager) answers every malformed invocation with a clean HTTP answer — a JSON 4xx, or 503
when a store is down — and never raises. Plus issue 12.2: a 256 KiB event with a long
message is accepted."""

from __future__ import annotations

import base64
import copy
import json

import pytest
import test_lambda_pipeline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_lambda_pipeline import TOKEN, Context, api_event, body_of, drain

from fluxnotify.ingress.apigw import handle_api_event
from fluxnotify.ingress.receiver import Receiver
from helpers import MemoryQueue

aws = test_lambda_pipeline.aws  # the moto fixture of the pipeline tests

GOOD = api_event(body_of())


def without(*path: str) -> dict:
    event = copy.deepcopy(GOOD)
    target = event
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return event


def with_(path: tuple[str, ...], value) -> dict:
    event = copy.deepcopy(GOOD)
    target = event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return event


MALFORMED = {
    "empty event": {},
    "not an object": ["POST", "/"],
    "a string": "POST /",
    "None": None,
    "no body": without("body"),
    "null body": with_(("body",), None),
    "numeric body": with_(("body",), 42),
    "object body": with_(("body",), {"a": 1}),
    "no requestContext": {k: v for k, v in GOOD.items() if k not in ("requestContext", "rawPath")},
    "requestContext a string": with_(("requestContext",), "ctx"),
    "no http in requestContext": without("requestContext", "http"),
    "http a list": with_(("requestContext", "http"), []),
    "no method": without("requestContext", "http", "method"),
    "numeric method": with_(("requestContext", "http", "method"), 5),
    "numeric rawPath": with_(("rawPath",), 5),
    "bad base64": {**GOOD, "isBase64Encoded": True, "body": "not base64 at all!!"},
    "base64 of invalid UTF-8": {**GOOD, "isBase64Encoded": True, "body": base64.b64encode(b"\xff\xfe{").decode()},
    "base64 of a lone surrogate": {**GOOD, "isBase64Encoded": True,
                                   "body": base64.b64encode(body_of().replace('"message":', '"message":"\\ud800","m":')
                                                            .encode()).decode()},
    "surrogate in a raw body": with_(("body",), '{"message": "\ud800"}'),
    "deep JSON": with_(("body",), "[" * 100_000 + "]" * 100_000),
    "HEAD": with_(("requestContext", "http", "method"), "HEAD"),
    "lower-case post": with_(("requestContext", "http", "method"), "post"),
}


# Odd but servable: headers are optional (no Content-Type is accepted), base64 only when `true`.
SERVABLE = {
    "no headers": without("headers"),
    "null headers": with_(("headers",), None),
    "list headers": with_(("headers",), ["content-type: text/plain"]),
    "numeric header value": with_(("headers",), {"content-type": 7}),
    "truthy isBase64Encoded string": {**GOOD, "isBase64Encoded": "yes"},
}


@pytest.mark.parametrize("name", list(SERVABLE))
def test_odd_but_servable_invocation_is_queued(aws, name):
    answer = aws["receiver"].lambda_handler(copy.deepcopy(SERVABLE[name]), Context())
    assert answer["statusCode"] == 202, answer
    assert len(drain(aws)) == 1


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_invocation_gets_a_clean_answer(aws, name):
    answer = aws["receiver"].lambda_handler(copy.deepcopy(MALFORMED[name]), Context())
    assert 400 <= answer["statusCode"] < 500, answer
    assert answer["headers"]["Content-Type"] == "application/json"
    error = json.loads(answer["body"])
    assert error["status"] == answer["statusCode"] and error["error"]
    assert TOKEN not in answer["body"]
    assert drain(aws) == []


def test_event_without_request_context_but_with_v1_fields_is_served(aws):
    event = {"httpMethod": "POST", "path": f"/{TOKEN}", "headers": {"content-type": "application/json"},
             "body": body_of()}
    assert aws["receiver"].lambda_handler(event, Context())["statusCode"] == 202
    assert len(drain(aws)) == 1


def test_unreachable_token_secret_is_503_not_an_exception(aws, monkeypatch):
    monkeypatch.setenv("WEBHOOK_TOKEN_SECRET", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gone")
    aws["receiver"].receiver.cache_clear()
    answer = aws["receiver"].lambda_handler(copy.deepcopy(GOOD), Context())
    assert answer["statusCode"] == 503 and json.loads(answer["body"])["status"] == 503


def test_256_kib_event_with_a_long_message_is_accepted(aws):
    event = json.loads(body_of())
    event["metadata"] = {f"kustomize.toolkit.fluxcd.io/k{i}": "v" for i in range(300)}
    event["message"] = ""
    event["message"] = "Helm upgrade failed: " + "x" * (256 * 1024 - len(json.dumps(event)) - 100)
    body = json.dumps(event)
    assert 250 * 1024 < len(body) <= 256 * 1024
    answer = aws["receiver"].lambda_handler(api_event(body), Context())
    assert answer["statusCode"] == 202, answer["body"]
    (record,) = drain(aws)
    assert json.loads(record["body"])["event"]["message"] == event["message"]


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=10)
event_keys = st.sampled_from(["body", "headers", "requestContext", "rawPath", "isBase64Encoded", "httpMethod",
                              "path", "version"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(event_keys, json_values, max_size=8), st.booleans())
def test_random_invocations_never_raise(fields, start_from_good):
    event = {**copy.deepcopy(GOOD), **fields} if start_from_good else fields
    queue = MemoryQueue()
    answer = handle_api_event(Receiver(queue), event)
    assert 200 <= answer["statusCode"] < 500
    json.loads(answer["body"])
    assert len(queue.messages) == (1 if answer["statusCode"] == 202 else 0)
