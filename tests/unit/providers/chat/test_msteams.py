"""msteams (spec §5.3): MessageCard vs Adaptive Card by host, fact order, 28 KB budget."""

from __future__ import annotations

import json

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
from fluxnotify.providers.chat import msteams
from fluxnotify.transport.http import TLSMaterial, Transport
from helpers import dispatch

CONNECTOR = "https://xxx.webhook.office.com/webhookb2/abc"
WORKFLOW = (
    "https://prod-28.northeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=s3cr3t"
)


def message_card(color: str, message: str, facts: list[dict]) -> dict:
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": color,
        "summary": OBJ_DOT,
        "sections": [{"activityTitle": message, "activitySubtitle": OBJ_DOT, "facts": facts}],
    }


def adaptive(text_block: dict, fact_set: dict) -> dict:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "Container",
                            "items": [
                                {
                                    "type": "TextBlock",
                                    "text": OBJ_DOT,
                                    "size": "large",
                                    "weight": "bolder",
                                    "wrap": True,
                                },
                                text_block,
                                fact_set,
                            ],
                        }
                    ],
                    "msteams": {"width": "Full"},
                },
            }
        ],
    }


@pytest.mark.parametrize(
    ("address", "card"),
    [
        ("https://xxx.webhook.office.com", True),
        ("https://xxx.webhook.office.com:443", True),
        (CONNECTOR, True),
        ("https://user@xxx.webhook.office.com:8443/a", True),
        ("https://xxx-webhook.office.com", False),
        ("https://webhook.office.com", False),
        (WORKFLOW, False),
        ("http://127.0.0.1:8080/hook", False),
    ],
)
def test_schema_selection_by_host(address, card):
    payload = body(encode_one(event(), config("msteams", address=address)))
    assert ("@type" in payload) is card
    assert (payload.get("type") == "message") is not card


def test_message_card_info_without_metadata():
    request = encode_one(event(), config("msteams", address=CONNECTOR))
    assert request.method == "POST"
    assert request.url == CONNECTOR
    assert request.headers == {"Content-Type": "application/json"}
    assert body(request) == message_card("0076D7", "message", [])


def test_message_card_error_with_metadata_sorted():
    metadata = {"zeta": "1", "summary": "prod", "alpha": "2"}
    request = encode_one(event("error", "failed", metadata), config("msteams", address=CONNECTOR))
    assert body(request) == message_card(
        "FF0000",
        "failed",
        [
            {"name": "alpha", "value": "2"},
            {"name": "summary", "value": "prod"},
            {"name": "zeta", "value": "1"},
        ],
    )


def test_adaptive_info_without_metadata():
    request = encode_one(event(), config("msteams", address=WORKFLOW))
    assert request.method == "POST"
    assert request.url == WORKFLOW
    assert request.headers == {"Content-Type": "application/json"}
    assert body(request) == adaptive(
        {"type": "TextBlock", "text": "message", "wrap": True}, {"type": "FactSet"}
    )


def test_adaptive_error_with_metadata_summary_first():
    metadata = {"zeta": "1", "summary": "prod", "alpha": "2"}
    request = encode_one(event("error", "failed", metadata), config("msteams", address=WORKFLOW))
    assert body(request) == adaptive(
        {"type": "TextBlock", "text": "failed", "color": "attention", "wrap": True},
        {
            "type": "FactSet",
            "facts": [
                {"title": "summary", "value": "prod"},
                {"title": "alpha", "value": "2"},
                {"title": "zeta", "value": "1"},
            ],
        },
    )


def test_adaptive_empty_message_omits_text():
    payload = body(encode_one(event("error", ""), config("msteams", address=WORKFLOW)))
    items = payload["attachments"][0]["content"]["body"][0]["items"]
    assert items[1] == {"type": "TextBlock", "color": "attention", "wrap": True}


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("", "invalid MS Teams webhook URL : 'parse \"\": empty url'"),
        ("foo/bar", "invalid MS Teams webhook URL foo/bar: 'parse \"foo/bar\": invalid URI for request'"),
    ],
)
def test_config_errors(address, error):
    with pytest.raises(ConfigError) as err:
        providers.validate(config("msteams", address=address))
    assert str(err.value) == error


def test_render_with_alert_summary():
    manifests = (
        provider_yaml("msteams", address=WORKFLOW)
        + alert_yaml("msteams", summary="Cluster: prod")
        + provider_yaml("msteams", name="legacy", address=CONNECTOR)
    )
    workflow, legacy = render_yaml(manifests, raw_event(metadata={"revision": "main@sha1:1234"}))
    assert workflow["error"] is None and legacy["error"] is None
    assert workflow["deliveries"][0]["url"] == WORKFLOW
    facts = workflow["deliveries"][0]["body"]["attachments"][0]["content"]["body"][0]["items"][2]["facts"]
    assert facts == [
        {"title": "summary", "value": "Cluster: prod"},
        {"title": "revision", "value": "main@sha1:1234"},
    ]
    assert legacy["deliveries"][0]["body"] == message_card(
        "0076D7", "message", [{"name": "revision", "value": "main@sha1:1234"}]
    )
    [result] = render_yaml(provider_yaml("msteams", address="not a url"), raw_event())
    assert (
        result["error"]
        == "invalid MS Teams webhook URL not a url: 'parse \"not a url\": invalid URI for request'"
    )


# --- size budget -------------------------------------------------------------


@pytest.mark.parametrize("address", [CONNECTOR, WORKFLOW])
def test_body_at_most_28_kib_ascii(address):
    message = "m" * 60_000
    metadata = {"revision": "main@sha1:1234", "summary": "s" * 100}
    request = encode_one(event("error", message, metadata), config("msteams", address=address))
    assert len(request.body) == 28_672  # one byte per character: the cut is exact
    text = json.dumps(body(request), ensure_ascii=False)
    assert "… (truncated)" in text
    assert OBJ_DOT in text and "s" * 100 in text and "main@sha1:1234" in text


@pytest.mark.parametrize("address", [CONNECTOR, WORKFLOW])
def test_body_at_most_28_kib_escaped(address):
    # '<' is 6 bytes on the wire (\u003c): the cut lands within one character of the limit.
    request = encode_one(event(message="<" * 20_000), config("msteams", address=address))
    assert 28_672 - 6 < len(request.body) <= 28_672
    payload = body(request)
    message = (
        payload["sections"][0]["activityTitle"]
        if "sections" in payload
        else (payload["attachments"][0]["content"]["body"][0]["items"][1]["text"])
    )
    assert message.endswith("… (truncated)")
    assert set(message[: -len("… (truncated)")]) == {"<"}


def test_body_exactly_at_limit_is_untouched():
    base = len(encode_one(event(message=""), config("msteams", address=CONNECTOR)).body)
    message = "x" * (msteams.MAX_BODY - base)
    request = encode_one(event(message=message), config("msteams", address=CONNECTOR))
    assert len(request.body) == msteams.MAX_BODY
    assert body(request)["sections"][0]["activityTitle"] == message
    longer = encode_one(event(message=message + "x"), config("msteams", address=CONNECTOR))
    assert body(longer)["sections"][0]["activityTitle"].endswith("… (truncated)")


# --- options and delivery ------------------------------------------------------


def test_proxy_and_tls_honoured():
    transport = RecordingTransport()
    tls = TLSMaterial(ca="ca")
    providers.deliver(event(), config("msteams", address=WORKFLOW, proxy="http://p:1", tls=tls), transport)
    assert transport.calls[0]["proxy"] == "http://p:1"
    assert transport.calls[0]["tls"] is tls


def test_delivery_to_sink(sink):
    providers.deliver(
        event("error", "x", {"a": "b"}),
        config("msteams", address=sink.url + "/workflows/1?sig=x"),
        Transport(),
    )
    [captured] = sink.wait_for(1)
    assert captured.method == "POST"
    assert captured.path == "/workflows/1?sig=x"
    assert captured.json()["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"


def test_dispatch_delivers_and_dead_letters(sink):
    manifests = provider_yaml("msteams", address=sink.url + "/ok") + alert_yaml("msteams")
    report = dispatch(manifests, raw_event())
    assert report.delivered == ["gitops-system/msteams"]
    assert sink.wait_for(1)[0].path == "/ok"
    sink.respond(404, "gone")
    report = dispatch(manifests, raw_event(message="second"))
    assert report.delivered == []
    [letter] = report.dead_letters
    assert letter["provider"] == "gitops-system/msteams"
    assert "answered 404 Not Found: gone" in letter["error"]
