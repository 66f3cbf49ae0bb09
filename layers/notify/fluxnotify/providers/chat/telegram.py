"""`telegram`: the Telegram Bot API ``sendMessage`` method, MarkdownV2 text (spec §5.15).

The address is ignored: requests go to ``<API>/bot<token>/sendMessage`` where ``<API>`` is
the environment variable ``TELEGRAM_API_URL`` (default ``https://api.telegram.org``; tests
point it at a local server). The bot token sits in the URL path, so every error raised
here has it replaced by ``*****``. ``spec.channel`` is ``<chat id>[:<thread id>]``.
Proxy honoured, TLS material ignored (spec §3.5).

Beyond the reference: Telegram rejects text over 4,096 characters, so the event message
is cut to fit, with a visible marker. Lengths are counted after MarkdownV2 escaping, in
UTF-16 code units (as Telegram counts; never fewer than code points), and the cut is made
between original characters, so an escape sequence is never split.
"""

from __future__ import annotations

import os

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, send_all
from fluxnotify.transport.http import DeliveryError, Request, Transport

DEFAULT_API_URL = "https://api.telegram.org"
MAX_TEXT = 4096
TRUNCATED = "… (truncated)"
_RESERVED = frozenset("\\.-_[]()~>`#+=|{}!*")


def validate(cfg: ProviderConfig) -> None:
    if not cfg.channel:
        raise ConfigError("empty Telegram channel")
    if not cfg.token:
        raise ConfigError("empty Telegram token")


def escape(text: str) -> str:
    """MarkdownV2: a backslash before every reserved character, each escaped once."""
    return "".join("\\" + c if c in _RESERVED else c for c in text)


def text_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _escaped_head(message: str, budget: int) -> str:
    """ESC of the longest head of the message whose escaped length is ≤ budget."""
    used, cut = 0, 0
    for char in message:
        size = text_length(escape(char))
        if used + size > budget:
            break
        used += size
        cut += 1
    return escape(message[:cut])


def text(event: Event) -> str:
    ref = event.involved_object
    emoji = "🚨" if event.severity == "error" else "💫"
    heading = "*" + escape(f"{emoji} {ref.kind.lower()}/{ref.name}/{ref.namespace}") + "*\n"
    lines = "".join(
        "\\- *" + escape(key) + "*: " + escape(value) + "\n"
        for key, value in gojson.go_sorted(event.metadata).items()
    )
    body = escape(event.message)
    fixed = text_length(heading) + 1 + text_length(lines)
    if fixed + text_length(body) > MAX_TEXT:
        marker = escape(TRUNCATED)
        body = _escaped_head(event.message, MAX_TEXT - fixed - text_length(marker)) + marker
    return heading + body + "\n" + lines


def api_url(token: str) -> str:
    base = os.environ.get("TELEGRAM_API_URL") or DEFAULT_API_URL
    return f"{base.rstrip('/')}/bot{token}/sendMessage"


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    chat_id, colon, thread = cfg.channel.partition(":")
    payload = {"chat_id": chat_id}
    if colon and thread:
        payload["message_thread_id"] = thread
    payload["text"] = text(event)
    payload["parse_mode"] = "MarkdownV2"
    return [json_request(api_url(cfg.token), payload)]


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    try:
        send_all(encode(event, cfg), cfg, transport, use_tls=False)
    except DeliveryError as err:
        # The transport already drops URL paths; this also covers echoed bodies.
        message = str(err).replace(cfg.token, "*****") if cfg.token else str(err)
        raise DeliveryError(
            message, retryable=err.retryable, status=err.status, retry_after=err.retry_after
        ) from None
