"""telegram (spec §5.15): chat id and thread, MarkdownV2 escaping, token kept secret, budget."""

from __future__ import annotations

import json
import re

import pytest
from fixtures.chat.chat_helpers import (
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
    secret_yaml,
    utf16_len,
)

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.providers.chat import telegram
from fluxnotify.transport.failures import redact_url
from fluxnotify.transport.http import DeliveryError, TLSMaterial, Transport
from helpers import dispatch

TOKEN = "123456:AAE-s3cr3t-bot-token"
URL = f"https://api.telegram.org/bot{TOKEN}/sendMessage"
SPEC_TEXT = "*💫 gitrepository/webapp/gitops\\-system*\nmessage\n\\- *kubernetes\\.io/somekey*: some\\.value\n\\- *test*: metadata\n"
MARKER = "… \\(truncated\\)"


@pytest.fixture(autouse=True)
def _default_api(monkeypatch):
    monkeypatch.delenv("TELEGRAM_API_URL", raising=False)


def tg(channel: str = "@fluxtest", token: str = TOKEN, **values):
    return config("telegram", channel=channel, token=token, **values)


def test_spec_example_literally():
    request = encode_one(event(metadata=SPEC_METADATA), tg("-1557265138"))
    assert request.method == "POST"
    assert request.url == URL
    assert request.headers == {"Content-Type": "application/json"}
    assert body(request) == {"chat_id": "-1557265138", "text": SPEC_TEXT, "parse_mode": "MarkdownV2"}


def test_info_event_without_metadata():
    assert body(encode_one(event(), tg()))["text"] == "*💫 gitrepository/webapp/gitops\\-system*\nmessage\n"


def test_error_event_with_metadata():
    text = body(encode_one(event("error", "failed!", {"a_b": "x"}), tg()))["text"]
    assert text == "*🚨 gitrepository/webapp/gitops\\-system*\nfailed\\!\n\\- *a\\_b*: x\n"


@pytest.mark.parametrize(
    ("channel", "fields"),
    [
        ("@fluxtest", {"chat_id": "@fluxtest"}),
        ("-1557265138", {"chat_id": "-1557265138"}),
        ("-1552289257:1", {"chat_id": "-1552289257", "message_thread_id": "1"}),
        ("-1552289257:", {"chat_id": "-1552289257"}),
        ("-1:2:3", {"chat_id": "-1", "message_thread_id": "2:3"}),
    ],
)
def test_chat_id_and_thread(channel, fields):
    payload = body(encode_one(event(), tg(channel)))
    assert list(payload) == [*fields, "text", "parse_mode"]
    assert {k: payload[k] for k in fields} == fields


def test_every_reserved_character_is_escaped_once():
    reserved = "\\.-_[]()~>`#+=|{}!*"
    evt = event(
        message="m" + reserved,
        metadata={"k" + reserved: "v" + reserved},
        involved_object=event().involved_object.__class__(kind="Kustomization", namespace="n.s", name="a_b"),
    )
    escaped = "".join("\\" + c for c in reserved)
    assert escaped == "\\\\\\.\\-\\_\\[\\]\\(\\)\\~\\>\\`\\#\\+\\=\\|\\{\\}\\!\\*"
    text = body(encode_one(evt, tg()))["text"]
    assert text == f"*💫 kustomization/a\\_b/n\\.s*\nm{escaped}\n\\- *k{escaped}*: v{escaped}\n"
    # characters outside the set stay as they are
    assert telegram.escape("a/b c<d>e@f:g'h\"i&%") == "a/b c<d\\>e@f:g'h\"i&%"


@pytest.mark.parametrize(
    ("channel", "token", "error"),
    [
        ("", TOKEN, "empty Telegram channel"),
        ("@c", "", "empty Telegram token"),
        ("", "", "empty Telegram channel"),
    ],
)
def test_config_errors(channel, token, error):
    with pytest.raises(ConfigError) as err:
        providers.validate(tg(channel, token))
    assert str(err.value) == error


def test_address_is_ignored():
    assert encode_one(event(), tg(address="https://example.com/other")).url == URL


def test_api_url_from_environment(monkeypatch):
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9/")
    assert encode_one(event(), tg()).url == f"http://127.0.0.1:9/bot{TOKEN}/sendMessage"


def test_render_spec_example():
    manifests = (
        provider_yaml("telegram", channel="-1552289257:1", address="ignored", secretRef={"name": "tg"})
        + secret_yaml("tg", token=TOKEN)
        + provider_yaml("telegram", name="no-token", channel="@fluxtest")
        + provider_yaml("telegram", name="no-channel", secretRef={"name": "tg"})
    )
    good, no_token, no_channel = render_yaml(manifests, raw_event(metadata=SPEC_METADATA))
    [delivery] = good["deliveries"]
    assert delivery["method"] == "POST"
    assert delivery["url"] == URL
    assert delivery["headers"] == {"Content-Type": "application/json"}
    assert delivery["body"] == {
        "chat_id": "-1552289257",
        "message_thread_id": "1",
        "text": SPEC_TEXT,
        "parse_mode": "MarkdownV2",
    }
    assert no_token["error"] == "empty Telegram token"
    assert no_channel["error"] == "empty Telegram channel"


# --- size budget -------------------------------------------------------------


def split(text: str) -> tuple[str, str, str]:
    heading, _, rest = text.partition("\n")
    message, _, lines = rest.partition("\n")
    return heading, message, lines


def test_text_at_the_limit_is_untouched():
    fixed = utf16_len(body(encode_one(event(message=""), tg()))["text"])
    message = "a" * (telegram.MAX_TEXT - fixed)
    text = body(encode_one(event(message=message), tg()))["text"]
    assert utf16_len(text) == 4096
    assert split(text)[1] == message
    longer = body(encode_one(event(message=message + "a"), tg()))["text"]
    assert utf16_len(longer) == 4096
    assert split(longer)[1].endswith(MARKER)


def test_plain_message_is_cut_to_exactly_4096():
    metadata = {"revision": "main@sha1:abc", "summary": "prod.eu"}
    text = body(encode_one(event(message="a" * 10_000, metadata=metadata), tg()))["text"]
    assert len(text) <= 4096 and utf16_len(text) == 4096
    heading, message, lines = split(text)
    assert heading == "*💫 gitrepository/webapp/gitops\\-system*"
    assert lines == "\\- *revision*: main@sha1:abc\n\\- *summary*: prod\\.eu\n"
    assert message.endswith(MARKER)
    assert set(message[: -len(MARKER)]) == {"a"}


def test_cut_never_splits_an_escape_sequence():
    text = body(encode_one(event(message="." * 5_000), tg()))["text"]
    assert 4095 <= utf16_len(text) <= 4096
    message = split(text)[1]
    head = message[: -len(MARKER)]
    assert re.fullmatch(r"(\\\.)+", head), "the head must be whole '\\.' pairs"


def test_cut_counts_utf16_units():
    text = body(encode_one(event(message="😀" * 3_000), tg()))["text"]
    assert 4095 <= utf16_len(text) <= 4096
    head = split(text)[1][: -len(MARKER)]
    assert set(head) == {"😀"}


# --- options, delivery, secrecy ----------------------------------------------------


def test_proxy_honoured_tls_ignored():
    transport = RecordingTransport()
    providers.deliver(event(), tg(proxy="http://p:1", tls=TLSMaterial(ca="x")), transport)
    assert (transport.calls[0]["proxy"], transport.calls[0]["tls"]) == ("http://p:1", None)


def test_delivery_to_sink(sink, monkeypatch):
    monkeypatch.setenv("TELEGRAM_API_URL", sink.url)
    providers.deliver(event(metadata=SPEC_METADATA), tg("-1552289257:1"), Transport())
    [captured] = sink.wait_for(1)
    assert (captured.method, captured.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    assert captured.header("Content-Type") == "application/json"
    assert captured.json() == {
        "chat_id": "-1552289257",
        "message_thread_id": "1",
        "text": SPEC_TEXT,
        "parse_mode": "MarkdownV2",
    }


def test_token_never_in_errors_echoed_body(sink, monkeypatch):
    monkeypatch.setenv("TELEGRAM_API_URL", sink.url)
    sink.handler = lambda captured: (404, {}, f"no such path {captured.path}".encode())
    with pytest.raises(DeliveryError) as err:
        providers.deliver(event(), tg(), Transport())
    assert TOKEN not in str(err.value)
    assert str(err.value) == (
        f"POST {redact_url(sink.url + '/x')} answered 404 Not Found: "
        "no such path *****"  # the path holds the bot token: masked in the echoed body too
    )
    assert err.value.retryable is False


def test_token_never_in_transport_errors(monkeypatch):
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:1")
    with pytest.raises(DeliveryError) as err:
        providers.deliver(event(), tg(), Transport())
    assert TOKEN not in str(err.value) and "123456" not in str(err.value)
    assert err.value.retryable is True


def test_dispatch_delivers_and_dead_letter_hides_token(sink, monkeypatch):
    monkeypatch.setenv("TELEGRAM_API_URL", sink.url)
    manifests = (
        provider_yaml("telegram", channel="@fluxtest", secretRef={"name": "tg"})
        + secret_yaml("tg", token=TOKEN)
        + alert_yaml("telegram")
    )
    report = dispatch(manifests, raw_event())
    assert report.delivered == ["gitops-system/telegram"]
    assert sink.wait_for(1)[0].path == f"/bot{TOKEN}/sendMessage"
    sink.handler = lambda captured: (400, {}, f'{{"ok":false,"description":"bad {captured.path}"}}'.encode())
    report = dispatch(manifests, raw_event(message="second"))
    [letter] = report.dead_letters
    assert letter["provider"] == "gitops-system/telegram"
    assert "answered 400 Bad Request" in letter["error"]
    assert TOKEN not in json.dumps(letter)


def test_dispatch_config_error_goes_to_dead_letters():
    manifests = provider_yaml("telegram", channel="@fluxtest") + alert_yaml("telegram")
    report = dispatch(manifests, raw_event())
    [letter] = report.dead_letters
    assert "empty Telegram token" in letter["error"]
