"""grafana (spec §5.20): annotation body, tags with `|` for `:`, auth order, delivery."""

from __future__ import annotations

import base64
import json

import pytest
from fixtures.incident.incident_helpers import (
    config,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
    secret_yaml,
)

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.transport.http import DeliveryError, Transport

ADDRESS = "https://grafana.example.com/api/annotations"
STAMP_UNIX = 1664520029  # 2022-09-30T06:40:29Z


def cfg(**values):
    values.setdefault("address", ADDRESS)
    return config("grafana", **values)


def body_of(evt, c=None):
    c = c or cfg()
    providers.validate(c)
    (request,) = providers.encode(evt, c)
    return request, json.loads(request.body)


def test_body_and_tags():
    request, body = body_of(event(metadata={"revision": "main@sha1:abc", "a:b": "c:d:e"}))
    assert request.method == "POST" and request.url == ADDRESS
    assert request.headers == {"Content-Type": "application/json"}
    assert body == {
        "when": STAMP_UNIX,
        "text": "gitrepository/webapp.gitops-system",
        "tags": [
            "flux",
            "source-controller",
            "a|b: c|d|e",
            "revision: main@sha1|abc",
            "kind: GitRepository",
            "name: webapp",
            "namespace: gitops-system",
        ],
    }
    assert request.body.decode().startswith('{"when":1664520029,"text":')


def test_zero_timestamp_is_go_zero_time():
    _, body = body_of(event(timestamp=None))
    assert body["when"] == -62135596800


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("values", "header"),
    [
        ({"token": "t0k3n"}, "Bearer t0k3n"),
        ({"token": "t0k3n", "username": "u", "password": "p"}, "Bearer t0k3n"),  # token first
        ({"username": "u", "password": "p"}, basic("u", "p")),
        ({"username": "u"}, None),
        ({}, None),
    ],
)
def test_auth(values, header):
    request, _ = body_of(event(), cfg(**values))
    assert request.headers.get("Authorization") == header


@pytest.mark.parametrize("address", ["", "not a url", "http://bad host/"])
def test_invalid_address(address):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(address=address))
    assert str(caught.value) == f"invalid Grafana URL {address}"


def test_render_with_basic_auth_secret():
    manifests = provider_yaml("grafana", address=ADDRESS, secretRef={"name": "g"}) + secret_yaml(
        "g", username="admin", password="s3cret"
    )
    (result,) = render_yaml(manifests, raw_event("error", "boom", {"revision": "main@sha1:1"}))
    assert result["error"] is None
    (delivery,) = result["deliveries"]
    assert delivery["headers"]["Authorization"] == basic("admin", "s3cret")
    assert delivery["body"]["tags"][2] == "revision: main@sha1|1"


def test_delivery_to_sink(sink):
    providers.deliver(event(), cfg(address=sink.url + "/api/annotations", token="t0k3n"), Transport())
    (captured,) = sink.wait_for(1)
    assert (captured.method, captured.path) == ("POST", "/api/annotations")
    assert captured.header("Authorization") == "Bearer t0k3n"
    assert captured.json()["text"] == "gitrepository/webapp.gitops-system"


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (429, True), (503, True), (501, False)])
def test_failures_are_classified_and_keep_the_token_out(sink, status, retryable):
    sink.respond(status, "nope")
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(address=sink.url + "/api/annotations", token="t0k3n-secret"), Transport())
    assert caught.value.retryable is retryable
    assert f" answered {status} " in str(caught.value)
    assert "t0k3n-secret" not in str(caught.value)
