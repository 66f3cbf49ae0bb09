"""`ntfy`: push notifications through an ntfy server (fluxnotify's own type; Flux has none).

``address`` is the topic URL (``https://ntfy.sh/flux-alerts``). The notification goes out
in ntfy's JSON publishing form: a POST to the server's root with ``topic``, ``title``,
``message``, ``priority`` and ``tags`` in the body. Unlike the header form (``Title:``,
``Tags:``), nothing event-derived travels in a header, so non-ASCII names and reasons need
no RFC 2047 encoding and cannot inject a header.

Auth: Secret ``token`` → ``Authorization: Bearer``; else Secret ``username`` + ``password``
→ Basic. Secret ``headers`` are added (e.g. a reverse proxy's access header). Proxy and TLS
(certSecretRef) honoured.
"""

from __future__ import annotations

import base64
import re
import urllib.parse

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import headline, json_request, merge_headers, require_url
from fluxnotify.transport.http import Request

MAX_MESSAGE_BYTES = 4096  # ntfy's default message-size-limit; longer ones become attachments
TRUNCATED = "… (truncated)"
_TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")  # ntfy's topic name rule
# (priority, first tag) by severity; ntfy priorities: 3 = default, 4 = high.
_ERROR = (4, "rotating_light")
_SUCCESS = (3, "white_check_mark")
_INFO = (3, "information_source")


def split_address(address: str) -> tuple[str, str]:
    """`https://ntfy.example.com/base/topic` → (`https://ntfy.example.com/base`, `topic`)."""
    parts = urllib.parse.urlsplit(address)
    root, _, topic = parts.path.rstrip("/").rpartition("/")
    return urllib.parse.urlunsplit(parts._replace(path=root or "/", query="", fragment="")), topic


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid ntfy topic URL {address}: '{error}'")
    parts = urllib.parse.urlsplit(cfg.address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"invalid ntfy topic URL: expected http(s)://server/topic, got scheme {parts.scheme!r}")
    if not _TOPIC.fullmatch(split_address(cfg.address)[1]):
        raise ConfigError(
            "invalid ntfy topic URL: the last path segment must be the topic "
            "(1-64 letters, digits, '-' or '_'), e.g. https://ntfy.sh/flux-alerts"
        )


def truncate(text: str, limit: int = MAX_MESSAGE_BYTES) -> str:
    """The text, or its head plus the marker, within ``limit`` UTF-8 bytes."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    head = raw[: limit - len(TRUNCATED.encode("utf-8"))].decode("utf-8", errors="ignore")
    return head + TRUNCATED


def message(event: Event) -> str:
    """The event message, then the metadata as `key: value` lines."""
    lines = [f"{key}: {value}" for key, value in gojson.go_sorted(event.metadata).items()]
    return truncate("\n\n".join(filter(None, [event.message, "\n".join(lines)])))


def _look(event: Event) -> tuple[int, str]:
    if event.severity == "error":
        return _ERROR
    return _SUCCESS if "Succeeded" in event.reason else _INFO


def _auth(cfg: ProviderConfig) -> dict[str, str]:
    if cfg.token:
        return {"Authorization": f"Bearer {cfg.token}"}
    if cfg.username and cfg.password:
        pair = base64.b64encode(f"{cfg.username}:{cfg.password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    return {}


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    root, topic = split_address(cfg.address)
    priority, emoji = _look(event)
    payload = {
        "topic": topic,
        "title": headline(event),
        "message": message(event),
        "priority": priority,
        "tags": [emoji, event.involved_object.kind.lower()],
    }
    return [json_request(root, payload, merge_headers(cfg.headers, _auth(cfg)))]
