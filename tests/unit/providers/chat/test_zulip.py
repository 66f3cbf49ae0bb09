"""zulip (spec §5.31): form body with the Flux Status Markdown, path replaced, channel split."""

from __future__ import annotations

import base64
import urllib.parse

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
from fluxnotify.providers.markdown import flux_status_markdown
from fluxnotify.transport.http import DeliveryError, Transport

KS = ObjectRef(kind="Kustomization", namespace="default", name="test-ks")


def cfg(**values):
    values.setdefault("address", "https://zulip.example.com")
    values.setdefault("channel", "general/announcements")
    return config("zulip", **values)


def encode_one(evt, c=None):
    c = c or cfg()
    providers.validate(c)
    (request,) = providers.encode(evt, c)
    return request


def test_spec_example_content():
    evt = event("info", "Test event message", {"key2": "value2", "key1": "value1"}, involved_object=KS)
    assert flux_status_markdown(evt) == (
        "## Flux Status\n\nℹ️ Kustomization/default/test-ks\n\nTest event message\n\n"
        "Metadata:\n* `key1`: value1\n* `key2`: value2\n"
    )


def test_error_emoji_and_change_request_left_out():
    text = flux_status_markdown(event("error", "x", {"change_request": "7"}, involved_object=KS))
    assert text == "## Flux Status\n\n⚠️ Kustomization/default/test-ks\n\nx\n\nMetadata:\n"


def test_request():
    evt = event("info", "Test event message", {"key1": "value1"}, involved_object=KS)
    request = encode_one(evt, cfg(username="bot@example.com", password="api-key"))
    assert (request.method, request.url) == ("POST", "https://zulip.example.com/api/v1/messages")
    assert request.headers == {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "Basic " + base64.b64encode(b"bot@example.com:api-key").decode(),
    }
    body = request.body.decode()
    assert body.startswith("content=%23%23+Flux+Status%0A%0A")
    assert body.endswith("&to=general&topic=announcements&type=stream")
    assert urllib.parse.parse_qs(body)["content"] == [flux_status_markdown(evt)]


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("https://zulip.example.com/api/v1/messages", "https://zulip.example.com/api/v1/messages"),
        ("https://my-org.zulipchat.com", "https://my-org.zulipchat.com/api/v1/messages"),
        ("https://z.example.com/other?x=1", "https://z.example.com/api/v1/messages?x=1"),
    ],
)
def test_path_is_replaced(address, url):
    assert encode_one(event(), cfg(address=address)).url == url


@pytest.mark.parametrize(("channel", "to", "topic"), [("general/announcements", "general", "announcements"), ("a/b/c", "a", "b/c")])
def test_channel_split(channel, to, topic):
    form = urllib.parse.parse_qs(encode_one(event(), cfg(channel=channel)).body.decode())
    assert (form["to"], form["topic"]) == ([to], [topic])


@pytest.mark.parametrize("channel", ["", "general", "general/", "/topic"])
def test_bad_channel(channel):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(channel=channel))
    assert str(caught.value) == f"invalid Zulip channel format, expected <channel>/<topic>, got '{channel}'"


def test_bad_address():
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(address="http://bad host"))
    assert str(caught.value).startswith("invalid Zulip endpoint URL: parse \"http://bad host\": ")


def test_no_auth_without_credentials():
    assert "Authorization" not in encode_one(event()).headers


def test_render_with_bot_credentials():
    manifests = provider_yaml("zulip", address="https://my-org.zulipchat.com", channel="flux/alerts", secretRef={"name": "z"}) + secret_yaml(
        "z", username="flux-bot@my-org.zulipchat.com", password="k3y"
    )
    (result,) = render_yaml(manifests, raw_event())
    (delivery,) = result["deliveries"]
    assert delivery["url"] == "https://my-org.zulipchat.com/api/v1/messages"
    assert delivery["body"].endswith("&to=flux&topic=alerts&type=stream")  # form text, not JSON


def test_delivery_and_failure(sink):
    c = cfg(address=sink.url, username="bot", password="s3cret-key")
    providers.deliver(event(), c, Transport())
    (captured,) = sink.wait_for(1)
    assert captured.path == "/api/v1/messages"
    assert captured.header("Content-Type") == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(captured.body.decode())["type"] == ["stream"]
    sink.respond(400, '{"result":"error"}')
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), c, Transport())
    assert caught.value.retryable is False
    assert "s3cret-key" not in str(caught.value)
