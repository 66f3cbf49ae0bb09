"""lark (spec §5.16): interactive card; neither proxy nor TLS honoured; 'Slack' URL error."""

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
)

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.transport.http import TLSMaterial, Transport
from helpers import dispatch

HOOK = "https://open.feishu.cn/open-apis/bot/v2/hook/abc"


def card(emoji: str, template: str, content: str) -> dict:
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "title": {"tag": "plain_text", "content": f"{emoji} gitrepository/webapp.gitops-system"},
                "template": template,
            },
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": content}}],
        },
    }


def test_info_event_without_metadata():
    request = encode_one(event(), config("lark", address=HOOK))
    assert request.method == "POST"
    assert request.url == HOOK
    assert request.headers == {"Content-Type": "application/json"}
    assert body(request) == card("💫", "turquoise", "**message**\n\n")


def test_error_event_with_metadata():
    request = encode_one(event("error", "failed", {"b": "2", "a": "1"}), config("lark", address=HOOK))
    assert body(request) == card("🚨", "red", "**failed**\n\na: 1\nb: 2\n")


@pytest.mark.parametrize(
    ("address", "error"),
    [("", "invalid Slack hook URL "), ("not a url", "invalid Slack hook URL not a url")],
)
def test_config_errors(address, error):
    with pytest.raises(ConfigError) as err:
        providers.validate(config("lark", address=address))
    assert str(err.value) == error


def test_render():
    manifests = provider_yaml("lark", address=HOOK) + provider_yaml("lark", name="bad", address="invalid-url")
    good, bad = render_yaml(manifests, raw_event(metadata={"revision": "main@sha1:1"}))
    assert good["deliveries"][0]["body"] == card("💫", "turquoise", "**message**\n\nrevision: main@sha1:1\n")
    assert bad["error"] == "invalid Slack hook URL invalid-url"


def test_proxy_and_tls_ignored():
    transport = RecordingTransport()
    providers.deliver(
        event(), config("lark", address=HOOK, proxy="http://p:1", tls=TLSMaterial(ca="x")), transport
    )
    assert (transport.calls[0]["proxy"], transport.calls[0]["tls"]) == ("", None)


def test_delivery_ignores_a_dead_proxy(sink):
    cfg = config("lark", address=sink.url + "/open-apis/bot/v2/hook/x", proxy="http://127.0.0.1:1")
    providers.deliver(event(), cfg, Transport())
    [captured] = sink.wait_for(1)
    assert (captured.method, captured.path) == ("POST", "/open-apis/bot/v2/hook/x")
    assert captured.json()["msg_type"] == "interactive"


def test_dispatch_delivers(sink):
    report = dispatch(
        provider_yaml("lark", address=sink.url + "/l") + alert_yaml("lark"), raw_event("error", "x")
    )
    assert report.delivered == ["gitops-system/lark"]
    assert sink.wait_for(1)[0].json()["card"]["header"]["template"] == "red"
