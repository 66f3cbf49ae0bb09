"""webex (spec §5.12): markdown body, room id, bearer header always sent."""

from __future__ import annotations

import pytest
from fixtures.chat.chat_helpers import (
    RecordingTransport,
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
from fluxnotify.transport.http import TLSMaterial, Transport
from helpers import dispatch

API = "https://webexapis.com/v1/messages"


def test_info_event_without_metadata():
    request = encode_one(event(), config("webex", address=API, channel="room-1", token="bot-token"))
    assert request.method == "POST"
    assert request.url == API
    assert request.headers == {"Content-Type": "application/json", "Authorization": "Bearer bot-token"}
    assert body(request) == {
        "roomId": "room-1",
        "markdown": "✅ **gitrepository/webapp.gitops-system**\nmessage\n",
    }


def test_error_event_with_metadata_and_no_room_no_token():
    request = encode_one(event("error", "failed", {"b": "2", "a": "1"}), config("webex", address=API))
    assert request.headers == {"Content-Type": "application/json", "Authorization": "Bearer "}
    assert body(request) == {
        "markdown": "💣 **gitrepository/webapp.gitops-system**\nfailed\n>**a**: 1\n>**b**: 2\n",
    }


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("", "invalid Webex hook URL : 'parse \"\": empty url'"),
        (
            "webexapis.com/v1/messages",
            "invalid Webex hook URL webexapis.com/v1/messages: 'parse \"webexapis.com/v1/messages\": invalid URI for request'",
        ),
    ],
)
def test_config_errors(address, error):
    with pytest.raises(ConfigError) as err:
        providers.validate(config("webex", address=address))
    assert str(err.value) == error


def test_render_with_secret_token():
    manifests = provider_yaml(
        "webex", address=API, channel="room-9", secretRef={"name": "webex-token"}
    ) + secret_yaml("webex-token", token="t0k3n")
    [result] = render_yaml(manifests, raw_event(metadata={"revision": "main@sha1:1"}))
    [delivery] = result["deliveries"]
    assert delivery["headers"] == {"Content-Type": "application/json", "Authorization": "Bearer t0k3n"}
    assert delivery["body"] == {
        "roomId": "room-9",
        "markdown": "✅ **gitrepository/webapp.gitops-system**\nmessage\n>**revision**: main@sha1:1\n",
    }
    assert "\\u003e**revision**" in delivery["raw"]
    [bad] = render_yaml(provider_yaml("webex", address="x y"), raw_event())
    assert bad["error"] == "invalid Webex hook URL x y: 'parse \"x y\": invalid URI for request'"


def test_proxy_and_tls_honoured():
    transport = RecordingTransport()
    tls = TLSMaterial(ca="ca")
    providers.deliver(event(), config("webex", address=API, proxy="http://p:1", tls=tls), transport)
    assert (transport.calls[0]["proxy"], transport.calls[0]["tls"]) == ("http://p:1", tls)


def test_delivery_to_sink(sink):
    providers.deliver(
        event(), config("webex", address=sink.url + "/v1/messages", channel="r", token="tk"), Transport()
    )
    [captured] = sink.wait_for(1)
    assert (captured.method, captured.path) == ("POST", "/v1/messages")
    assert captured.header("Authorization") == "Bearer tk"
    assert captured.json()["roomId"] == "r"


def test_dispatch_delivers(sink):
    manifests = (
        provider_yaml("webex", address=sink.url + "/v1/messages", channel="r", secretRef={"name": "wx"})
        + secret_yaml("wx", token="abcd1234")
        + alert_yaml("webex")
    )
    report = dispatch(manifests, raw_event("error", "oops"))
    assert report.delivered == ["gitops-system/webex"]
    captured = sink.wait_for(1)[0]
    assert captured.header("Authorization") == "Bearer abcd1234"
    assert captured.json()["markdown"].startswith("💣 ")
