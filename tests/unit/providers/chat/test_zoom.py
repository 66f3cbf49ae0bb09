"""zoom (spec §5.33): card body, format=full unless a format is set, raw token header."""

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
from fluxnotify.transport.http import DeliveryError, Transport

HOOK = "https://integrations.zoom.us/chat/webhooks/incomingwebhook/abc"
TOKEN = "zoom-verification-t0k3n"


def cfg(**values):
    values.setdefault("address", HOOK)
    values.setdefault("token", TOKEN)
    return config("zoom", **values)


def encode_one(evt, c=None):
    c = c or cfg()
    providers.validate(c)
    (request,) = providers.encode(evt, c)
    return request


def test_body_with_metadata():
    request = encode_one(event("error", "boom", {"b": "2", "a": "1"}))
    assert request.url == HOOK + "?format=full"
    assert request.headers == {"Content-Type": "application/json", "Authorization": TOKEN}
    assert json.loads(request.body) == {
        "content": {
            "head": {"text": "gitrepository/webapp.gitops-system", "sub_head": {"text": "error"}},
            "body": [
                {"type": "message", "text": "boom"},
                {"type": "fields", "items": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]},
            ],
        }
    }


def test_no_metadata_and_empty_message():
    body = json.loads(encode_one(event("info", "")).body)
    assert body["content"]["body"] == [{"type": "message"}]


@pytest.mark.parametrize(
    ("address", "url"),
    [
        (HOOK + "?format=message", HOOK + "?format=message"),
        (HOOK + "?z=1&format=", HOOK + "?format=full&z=1"),
        (HOOK + "?b=x y&a=1", HOOK + "?a=1&b=x+y&format=full"),
    ],
)
def test_format_query(address, url):
    assert encode_one(event(), cfg(address=address)).url == url


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"address": "not a url"}, "invalid Zoom incoming webhook URL not a url: 'parse \"not a url\": invalid URI for request'"),
        ({"token": ""}, "empty Zoom verification token"),
    ],
)
def test_config_errors(values, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(**values))
    assert str(caught.value) == error


def test_render_from_secret():
    manifests = provider_yaml("zoom", secretRef={"name": "zoom"}) + secret_yaml("zoom", address=HOOK, token=TOKEN)
    (result,) = render_yaml(manifests, raw_event())
    (delivery,) = result["deliveries"]
    assert delivery["url"] == HOOK + "?format=full"
    assert delivery["headers"]["Authorization"] == TOKEN


def test_delivery_and_failure(sink):
    providers.deliver(event(), cfg(address=sink.url + "/hook/abc"), Transport())
    (captured,) = sink.wait_for(1)
    assert captured.path == "/hook/abc?format=full"
    assert captured.header("Authorization") == TOKEN
    sink.respond(503, "later", {"Retry-After": "7"})
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(address=sink.url + "/hook/abc"), Transport())
    assert caught.value.retryable is True and caught.value.retry_after == 7
    assert TOKEN not in str(caught.value)
