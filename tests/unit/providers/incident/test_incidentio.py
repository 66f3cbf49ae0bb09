"""incident.io (spec §5.34): firing/resolved alert events keyed by the object UID."""

from __future__ import annotations

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
from fluxnotify.model.event import ObjectRef
from fluxnotify.providers.base import Skip
from fluxnotify.transport.http import DeliveryError, Transport

ADDRESS = "https://api.incident.io/v2/alert_events/http/01HXYZ"
TOKEN = "inc_live_0123456789"
REF = ObjectRef(kind="Kustomization", namespace="apps", name="webapp", uid="7d0cdc51-ddcf")


def cfg(**values):
    values.setdefault("address", ADDRESS)
    values.setdefault("token", TOKEN)
    return config("incident.io", **values)


def encode_one(evt, c=None):
    c = c or cfg()
    providers.validate(c)
    (request,) = providers.encode(evt, c)
    return request


def test_error_fires():
    evt = event("error", "apply failed", {"revision": "main@sha1:1", "severity": "x"}, "ApplyFailed", involved_object=REF)
    request = encode_one(evt)
    assert (request.method, request.url) == ("POST", ADDRESS)
    assert request.headers == {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    assert json.loads(request.body) == {
        "title": "kustomization/webapp.apps: ApplyFailed",
        "status": "firing",
        "deduplication_key": "7d0cdc51-ddcf",
        "description": "apply failed",
        "metadata": {
            "revision": "main@sha1:1",
            "severity": "error",
            "reason": "ApplyFailed",
            "reportingController": "source-controller",
        },
    }


def test_info_resolves_and_empty_fields():
    evt = event("info", "", {"reportingController": "kept"}, "Succeeded", reporting_controller="")
    body = json.loads(encode_one(evt).body)
    assert body["status"] == "resolved"
    assert body["deduplication_key"] == ""
    assert "description" not in body
    assert body["metadata"] == {"reportingController": "kept", "severity": "info", "reason": "Succeeded"}


def test_progressing_sends_nothing():
    with pytest.raises(Skip):
        providers.encode(event(reason="Progressing"), cfg())


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"address": "invalid-url"}, "invalid incident.io alert source URL invalid-url: 'parse \"invalid-url\": invalid URI for request'"),
        ({"token": ""}, "empty incident.io API token"),
    ],
)
def test_config_errors(values, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(**values))
    assert str(caught.value) == error


def test_render_with_token_secret():
    manifests = provider_yaml("incident.io", name="incident", address=ADDRESS, secretRef={"name": "inc"}) + secret_yaml(
        "inc", token=TOKEN
    )
    (result,) = render_yaml(manifests, raw_event("error", "boom"))
    assert result["type"] == "incident.io"
    (delivery,) = result["deliveries"]
    assert delivery["body"]["title"] == "gitrepository/webapp.gitops-system: reason"


def test_delivery_accepts_202(sink):
    sink.respond(202, '{"status": "success"}')
    providers.deliver(event("error"), cfg(address=sink.url + "/v2/alert_events/http/01HXYZ"), Transport())
    (captured,) = sink.wait_for(1)
    assert captured.path == "/v2/alert_events/http/01HXYZ"
    assert captured.header("Authorization") == f"Bearer {TOKEN}"


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (502, True)])
def test_failures(sink, status, retryable):
    sink.respond(status, "no")
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event("error"), cfg(address=sink.url), Transport())
    assert caught.value.retryable is retryable
    assert TOKEN not in str(caught.value)
