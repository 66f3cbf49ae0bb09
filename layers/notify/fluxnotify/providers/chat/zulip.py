"""`zulip`: a stream message through Zulip's REST API (spec §5.31).

The channel is `<stream>/<topic>`; username and password are the bot's email and API key
(Basic auth). The body is form-encoded, the content the "Flux Status" Markdown of §5.0.
"""

from __future__ import annotations

import base64
import urllib.parse

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import parse_error
from fluxnotify.providers.markdown import flux_status_markdown
from fluxnotify.transport.http import Request

MESSAGES_PATH = "/api/v1/messages"


def stream_and_topic(channel: str) -> tuple[str, str]:
    stream, _, topic = channel.partition("/")
    if not stream or not topic:
        raise ConfigError(f"invalid Zulip channel format, expected <channel>/<topic>, got '{channel}'")
    return stream, topic


def validate(cfg: ProviderConfig) -> None:
    error = parse_error(cfg.address)
    if error is not None:
        raise ConfigError(f"invalid Zulip endpoint URL: {error}")
    stream_and_topic(cfg.channel)


def messages_url(address: str) -> str:
    """The address with its path replaced by /api/v1/messages (host and query kept)."""
    parts = urllib.parse.urlsplit(address)
    return urllib.parse.urlunsplit(parts._replace(path=MESSAGES_PATH, fragment=""))


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    stream, topic = stream_and_topic(cfg.channel)
    form = [("content", flux_status_markdown(event)), ("to", stream), ("topic", topic), ("type", "stream")]
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cfg.username or cfg.password:
        basic = base64.b64encode(f"{cfg.username}:{cfg.password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {basic}"
    body = urllib.parse.urlencode(form, quote_via=urllib.parse.quote_plus).encode("utf-8")
    return [Request("POST", messages_url(cfg.address), headers, body)]
