"""googlechat (spec §5.11): cards v1 with explicit nulls; TLS ignored."""

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

HOOK = "https://chat.googleapis.com/v1/spaces/AAA/messages?key=k&token=t"
HEADER = {"title": OBJ_DOT, "subtitle": "source-controller", "imageUrl": None, "imageStyle": None}


def text_section(text: str) -> dict:
    return {"header": "", "widgets": [{"textParagraph": {"text": text}, "keyValue": None}]}


def fact(key: str, value: str) -> dict:
    return {
        "textParagraph": None,
        "keyValue": {
            "topLabel": key,
            "content": value,
            "contentMultiline": False,
            "bottomLabel": None,
            "icon": None,
        },
    }


def test_info_event_without_metadata():
    request = encode_one(event(), config("googlechat", address=HOOK))
    assert request.method == "POST"
    assert request.url == HOOK
    assert request.headers == {"Content-Type": "application/json"}
    assert body(request) == {"cards": [{"header": HEADER, "sections": [text_section("message")]}]}
    # the explicit nulls are on the wire
    assert b'"imageUrl":null,"imageStyle":null' in request.body
    assert b'"keyValue":null' in request.body


def test_error_event_with_metadata():
    request = encode_one(event("error", "failed", {"z": "1", "a": "2"}), config("googlechat", address=HOOK))
    assert body(request) == {
        "cards": [
            {
                "header": HEADER,
                "sections": [
                    text_section('<font color="#ff0000">failed</font>'),
                    {"header": "", "widgets": [fact("a", "2"), fact("z", "1")]},
                ],
            }
        ]
    }
    # Go-JSON escapes <, > and &
    assert b'\\u003cfont color=\\"#ff0000\\"\\u003efailed\\u003c/font\\u003e' in request.body


@pytest.mark.parametrize(
    ("address", "error"),
    [("", "invalid Google Chat hook URL "), ("not a url", "invalid Google Chat hook URL not a url")],
)
def test_config_errors(address, error):
    with pytest.raises(ConfigError) as err:
        providers.validate(config("googlechat", address=address))
    assert str(err.value) == error


def test_render():
    manifests = provider_yaml("googlechat", address=HOOK) + provider_yaml(
        "googlechat", name="bad", address="foo/bar"
    )
    good, bad = render_yaml(manifests, raw_event(metadata={"revision": "main@sha1:1"}))
    [delivery] = good["deliveries"]
    assert delivery["url"] == HOOK
    assert delivery["body"]["cards"][0]["sections"][1] == {
        "header": "",
        "widgets": [fact("revision", "main@sha1:1")],
    }
    assert bad["error"] == "invalid Google Chat hook URL foo/bar"


def test_tls_ignored_proxy_honoured():
    transport = RecordingTransport()
    providers.deliver(
        event(), config("googlechat", address=HOOK, proxy="http://p:1", tls=TLSMaterial(ca="x")), transport
    )
    assert (transport.calls[0]["proxy"], transport.calls[0]["tls"]) == ("http://p:1", None)


def test_delivery_to_sink(sink):
    providers.deliver(
        event(), config("googlechat", address=sink.url + "/v1/spaces/A/messages?key=k"), Transport()
    )
    [captured] = sink.wait_for(1)
    assert (captured.method, captured.path) == ("POST", "/v1/spaces/A/messages?key=k")
    assert captured.json()["cards"][0]["header"] == HEADER


def test_dispatch_delivers(sink):
    report = dispatch(
        provider_yaml("googlechat", address=sink.url + "/g") + alert_yaml("googlechat"), raw_event()
    )
    assert report.delivered == ["gitops-system/googlechat"]
    assert len(sink.wait_for(1)[0].json()["cards"][0]["sections"]) == 1
