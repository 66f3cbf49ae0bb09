"""ntfy: JSON publishing to the server root, priority and tags by severity, token or Basic auth."""

from __future__ import annotations

import base64
import json

import pytest
from fixtures.chat.chat_helpers import (
    alert_yaml,
    body,
    config,
    encode_one,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
    secret_yaml,
)

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.validate import conditions
from fluxnotify.providers.chat import ntfy
from fluxnotify.transport.http import DeliveryError, Transport
from helpers import dispatch

TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"


def test_error_event_json_form():
    request = encode_one(event("error", "apply failed", {"revision": "main@sha1:abc", "a": "1"}),
                         config("ntfy", address="https://ntfy.example.com/flux-alerts"))
    assert (request.method, request.url) == ("POST", "https://ntfy.example.com/")
    assert request.headers == {"Content-Type": "application/json"}
    assert body(request) == {
        "topic": "flux-alerts",
        "title": "GitRepository gitops-system/webapp: ReconciliationFailed",
        "message": "apply failed\n\na: 1\nrevision: main@sha1:abc",
        "priority": 4,
        "tags": ["rotating_light", "gitrepository"],
    }


@pytest.mark.parametrize(("reason", "tag"), [("ReconciliationSucceeded", "white_check_mark"),
                                             ("Progressing", "information_source")])
def test_info_priority_and_tags(reason, tag):
    request = encode_one(event("info", "ok", reason=reason), config("ntfy", address="http://h/base/t_1"))
    assert request.url == "http://h/base"
    assert (body(request)["priority"], body(request)["tags"], body(request)["topic"]) == (3, [tag, "gitrepository"], "t_1")


def test_token_wins_over_basic_and_headers_are_added():
    cfg = config("ntfy", address="https://ntfy.sh/t", token=TOKEN, username="u", password="p",
                 headers={"X-Team": "platform"})
    assert encode_one(event(), cfg).headers == {"Content-Type": "application/json", "X-Team": "platform",
                                                "Authorization": f"Bearer {TOKEN}"}
    basic = encode_one(event(), config("ntfy", address="https://ntfy.sh/t", username="phil", password="pw"))
    assert basic.headers["Authorization"] == "Basic " + base64.b64encode(b"phil:pw").decode()


def test_non_ascii_stays_in_the_json_body_and_long_messages_are_cut():
    request = encode_one(event("info", "é" * 5000, reason="Réconcilié"), config("ntfy", address="https://n/t"))
    sent = body(request)
    assert sent["title"] == "GitRepository gitops-system/webapp: Réconcilié"
    assert all(value.isascii() for value in request.headers.values())
    assert len(sent["message"].encode()) <= ntfy.MAX_MESSAGE_BYTES and sent["message"].endswith(ntfy.TRUNCATED)


@pytest.mark.parametrize(("address", "error"), [
    ("", "invalid ntfy topic URL : 'parse \"\": empty url'"),
    ("ftp://ntfy.sh/t", "expected http(s)://server/topic"),
    ("https://ntfy.sh", "the last path segment must be the topic"),
    ("https://ntfy.sh/bad.topic", "the last path segment must be the topic"),
])
def test_config_errors(address, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(config("ntfy", address=address))
    assert error in str(caught.value)


def test_delivery_to_sink_with_token(sink):
    sink.respond(200, {"id": "x"})
    providers.deliver(event("error", "boom"), config("ntfy", address=sink.url + "/flux", token=TOKEN), Transport())
    [captured] = sink.wait_for(1)
    assert (captured.method, captured.path) == ("POST", "/")
    assert captured.header("Authorization") == f"Bearer {TOKEN}"
    assert captured.json()["topic"] == "flux" and captured.json()["priority"] == 4


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (403, False)])
def test_failures_classified_without_the_token(sink, status, retryable):
    sink.respond(status, "denied " + TOKEN)
    cfg = config("ntfy", address=sink.url + "/flux", token=TOKEN)
    report = dispatch(provider_yaml("ntfy", address=sink.url + "/flux", secretRef={"name": "ntfy"})
                      + secret_yaml("ntfy", token=TOKEN) + alert_yaml("ntfy"), raw_event())
    assert report.delivered == []
    assert (len(report.retries), len(report.dead_letters)) == ((1, 0) if retryable else (0, 1))
    assert TOKEN not in json.dumps(report.dead_letters) + json.dumps(report.retries)
    with pytest.raises(DeliveryError) as caught:
        sink.respond(status)
        providers.deliver(event(), cfg, Transport())
    assert caught.value.retryable is retryable


def test_render_and_validate():
    manifests = provider_yaml("ntfy", address="https://ntfy.sh/flux-alerts", secretRef={"name": "ntfy"}) \
        + secret_yaml("ntfy", token=TOKEN)
    [result] = render_yaml(manifests, raw_event("info", "deployed"))
    [delivery] = result["deliveries"]
    assert (delivery["url"], delivery["body"]["topic"], delivery["body"]["message"]) == (
        "https://ntfy.sh/", "flux-alerts", "deployed")
    [condition] = conditions(load_yaml(manifests))
    assert condition.ready and "`ntfy` is a fluxnotify type" in condition.message
