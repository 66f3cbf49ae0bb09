"""discord (spec §5.2): URL rewrite, Slack-shaped body, options, 2,000-character budget."""

from __future__ import annotations

import pytest
from fixtures.chat.chat_helpers import (
    OBJ_DOT,
    SPEC_METADATA,
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
from fluxnotify.providers.chat import discord
from fluxnotify.transport.http import DeliveryError, TLSMaterial, Transport
from helpers import dispatch

HOOK = "https://discord.com/api/webhooks/1/abc"


def expected(color: str, text: str, fields: list[dict], username: str = "source-controller") -> dict:
    return {
        "channel": "",
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


@pytest.mark.parametrize(
    ("address", "url"),
    [
        (HOOK, HOOK + "/slack"),
        ("http://h:1", "http://h:1/slack"),
        (HOOK + "?thread_id=9", HOOK + "/slack?thread_id=9"),
        (HOOK + "/slack", HOOK + "/slack"),
        (HOOK + "/", HOOK + "/slack"),
        ("https://discord.com//api//webhooks/1/abc", HOOK + "/slack"),
        ("https://discord.com/api/webhooks/1/abc/slack?wait=true", HOOK + "/slack/slack?wait=true"),
    ],
)
def test_slack_suffix(address, url):
    assert encode_one(event(), config("discord", address=address)).url == url


def test_info_event_without_metadata():
    request = encode_one(event(), config("discord", address=HOOK, channel="ignored"))
    assert request.method == "POST"
    assert request.url == HOOK + "/slack"
    assert request.headers == {"Content-Type": "application/json"}
    assert body(request) == expected("good", "message", [])


def test_error_event_with_metadata_and_username():
    request = encode_one(
        event("error", "apply failed", SPEC_METADATA), config("discord", address=HOOK, username="flux-bot")
    )
    assert body(request) == expected(
        "danger",
        "apply failed",
        [
            {"title": "kubernetes.io/somekey", "value": "some.value", "short": False},
            {"title": "test", "value": "metadata", "short": False},
        ],
        username="flux-bot",
    )


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("", "invalid Discord hook URL : 'parse \"\": empty url'"),
        ("not a url", "invalid Discord hook URL not a url: 'parse \"not a url\": invalid URI for request'"),
        (
            "https://bad url",
            'invalid Discord hook URL https://bad url: \'parse "https://bad url": invalid character " " in host name\'',
        ),
    ],
)
def test_config_errors(address, error):
    with pytest.raises(ConfigError) as err:
        providers.validate(config("discord", address=address))
    assert str(err.value) == error


def test_render_spec_example():
    manifests = provider_yaml("discord", address=HOOK + "?thread_id=9", channel="general")
    [result] = render_yaml(manifests, raw_event(metadata={"test": "metadata"}))
    assert result["error"] is None and result["skipped"] is None
    [delivery] = result["deliveries"]
    assert delivery["method"] == "POST"
    assert delivery["url"] == HOOK + "/slack?thread_id=9"
    assert delivery["headers"] == {"Content-Type": "application/json"}
    assert delivery["body"] == expected(
        "good", "message", [{"title": "test", "value": "metadata", "short": False}]
    )


def test_render_reports_config_error():
    [result] = render_yaml(provider_yaml("discord", address="invalid-url"), raw_event())
    assert result["deliveries"] == []
    assert (
        result["error"]
        == "invalid Discord hook URL invalid-url: 'parse \"invalid-url\": invalid URI for request'"
    )


# --- size budget -------------------------------------------------------------


def test_message_at_the_limit_is_untouched():
    message = "x" * discord.MAX_TEXT
    text = body(encode_one(event(message=message), config("discord", address=HOOK)))["attachments"][0]["text"]
    assert text == message


@pytest.mark.parametrize("length", [2001, 50_000])
def test_long_message_is_cut_to_2000_characters_with_marker(length):
    message = "".join(chr(ord("a") + i % 26) for i in range(length))
    attachment = body(
        encode_one(event(message=message, metadata={"k": "v"}), config("discord", address=HOOK))
    )["attachments"][0]
    assert len(attachment["text"]) == 2000
    assert attachment["text"] == message[: 2000 - len("… (truncated)")] + "… (truncated)"
    assert attachment["author_name"] == OBJ_DOT
    assert attachment["fields"] == [{"title": "k", "value": "v", "short": False}]


# --- options and delivery ------------------------------------------------------


def test_tls_ignored_proxy_honoured():
    transport = RecordingTransport()
    tls = TLSMaterial(ca="unused")
    providers.deliver(event(), config("discord", address=HOOK, proxy="http://proxy:3128", tls=tls), transport)
    [call] = transport.calls
    assert call["proxy"] == "http://proxy:3128"
    assert call["tls"] is None


def test_delivery_to_sink(sink):
    providers.deliver(
        event("error", "boom", {"a": "b"}),
        config("discord", address=sink.url + "/api/webhooks/1/abc"),
        Transport(),
    )
    [captured] = sink.wait_for(1)
    assert captured.method == "POST"
    assert captured.path == "/api/webhooks/1/abc/slack"
    assert captured.header("Content-Type") == "application/json"
    assert captured.json()["attachments"][0]["text"] == "boom"
    assert captured.json()["attachments"][0]["color"] == "danger"


def test_delivery_through_a_real_proxy(sink):
    # The sink plays an HTTP proxy: it receives the absolute URL of the webhook.
    cfg = config("discord", address="http://discord.invalid/api/webhooks/1/abc", proxy=sink.url)
    providers.deliver(event(), cfg, Transport())
    [captured] = sink.wait_for(1)
    assert captured.path == "http://discord.invalid/api/webhooks/1/abc/slack"


def test_delivery_failure_is_wrapped_and_classified(sink):
    sink.respond(400, "unknown webhook")
    with pytest.raises(DeliveryError) as err:
        providers.deliver(event(), config("discord", address=sink.url + "/api/webhooks/1/abc"), Transport())
    assert str(err.value) == (
        f"POST {sink.url}/… answered 400 Bad Request: unknown webhook"
    )
    assert err.value.retryable is False


def test_dispatch_delivers(sink):
    manifests = provider_yaml("discord", address=sink.url + "/api/webhooks/1/abc") + alert_yaml("discord")
    report = dispatch(manifests, raw_event(metadata={"revision": "main@sha1:abc"}))
    assert report.delivered == ["gitops-system/discord"]
    assert report.dead_letters == [] and report.retries == []
    [captured] = sink.wait_for(1)
    assert captured.path == "/api/webhooks/1/abc/slack"
    assert captured.json()["attachments"][0]["fields"] == [
        {"title": "revision", "value": "main@sha1:abc", "short": False}
    ]


def test_dispatch_retries_5xx(sink):
    sink.respond(503, "busy")
    manifests = provider_yaml("discord", address=sink.url + "/hook") + alert_yaml("discord")
    report = dispatch(manifests, raw_event())
    assert report.delivered == []
    assert len(report.retries) == 1
    assert report.dead_letters == []
