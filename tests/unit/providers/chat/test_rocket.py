"""rocket (spec §5.4): Slack shape, hex colours, no username default."""

from __future__ import annotations

import pytest
from fixtures.chat.chat_helpers import (
    OBJ_DOT,
    RecordingTransport,
    alert_yaml,
    body,
    config,
    encode_one,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
)

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.transport.http import TLSMaterial, Transport
from helpers import dispatch

HOOK = "https://rocket.example.com/hooks/abc/def"


def expected(color: str, text: str, fields: list[dict], channel: str = "", username: str = "") -> dict:
    return {
        "channel": channel,
        "username": username,
        "icon_url": "",
        "icon_emoji": "",
        "attachments": [
            {
                "fallback": "",
                "color": color,
                "author_name": OBJ_DOT,
                "text": text,
                "mrkdwn_in": ["text"],
                "fields": fields,
            }
        ],
    }


def test_info_event_without_metadata_no_username_default():
    request = encode_one(event(), config("rocket", address=HOOK))
    assert request.method == "POST"
    assert request.url == HOOK
    assert request.headers == {"Content-Type": "application/json"}
    assert body(request) == expected("#0076D7", "message", [])


def test_error_event_with_metadata_channel_and_username():
    request = encode_one(
        event("error", "failed", {"b": "2", "a": "1"}),
        config("rocket", address=HOOK, channel="#flux", username="flux", token="unused"),
    )
    assert request.headers == {"Content-Type": "application/json"}
    assert body(request) == expected(
        "#FF0000",
        "failed",
        [{"title": "a", "value": "1", "short": False}, {"title": "b", "value": "2", "short": False}],
        channel="#flux",
        username="flux",
    )


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("", "invalid Rocket hook URL : 'parse \"\": empty url'"),
        (
            "invalid-url",
            "invalid Rocket hook URL invalid-url: 'parse \"invalid-url\": invalid URI for request'",
        ),
    ],
)
def test_config_errors(address, error):
    with pytest.raises(ConfigError) as err:
        providers.validate(config("rocket", address=address))
    assert str(err.value) == error


def test_render():
    manifests = provider_yaml("rocket", address=HOOK, channel="ops") + provider_yaml("rocket", name="bad")
    good, bad = render_yaml(manifests, raw_event("error", "boom", {"revision": "r1"}))
    assert good["error"] is None
    [delivery] = good["deliveries"]
    assert (delivery["method"], delivery["url"]) == ("POST", HOOK)
    assert delivery["body"] == expected(
        "#FF0000", "boom", [{"title": "revision", "value": "r1", "short": False}], channel="ops"
    )
    assert bad["error"] == "invalid Rocket hook URL : 'parse \"\": empty url'"


def test_proxy_and_tls_honoured():
    transport = RecordingTransport()
    tls = TLSMaterial(ca="ca")
    providers.deliver(event(), config("rocket", address=HOOK, proxy="http://p:1", tls=tls), transport)
    assert (transport.calls[0]["proxy"], transport.calls[0]["tls"]) == ("http://p:1", tls)


def test_delivery_to_sink(sink):
    providers.deliver(event(), config("rocket", address=sink.url + "/hooks/a/b", channel="c"), Transport())
    [captured] = sink.wait_for(1)
    assert (captured.method, captured.path) == ("POST", "/hooks/a/b")
    assert captured.json() == expected("#0076D7", "message", [], channel="c")


def test_dispatch_delivers(sink):
    report = dispatch(provider_yaml("rocket", address=sink.url + "/h") + alert_yaml("rocket"), raw_event())
    assert report.delivered == ["gitops-system/rocket"]
    assert sink.wait_for(1)[0].json()["attachments"][0]["color"] == "#0076D7"
