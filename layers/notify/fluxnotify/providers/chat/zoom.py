"""`zoom`: a message card to a Zoom Team Chat incoming webhook (spec §5.33).

The verification token goes raw into the Authorization header. Without a `format`
query parameter the webhook is asked for `format=full` (a card with head and body).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, obj_dot, require_url
from fluxnotify.transport.http import Request


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid Zoom incoming webhook URL {address}: '{error}'")
    if not cfg.token:
        raise ConfigError("empty Zoom verification token")


def go_query_encode(pairs: list[tuple[str, str]]) -> str:
    """Go's url.Values.Encode: keys sorted, values in order, QueryEscape (`+` for space)."""
    ordered = sorted(pairs, key=lambda pair: pair[0])  # stable: a key's values keep their order
    return "&".join(
        f"{urllib.parse.quote_plus(k, safe='')}={urllib.parse.quote_plus(v, safe='')}" for k, v in ordered
    )


def webhook_url(address: str) -> str:
    parts = urllib.parse.urlsplit(address)
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    if next((value for key, value in pairs if key == "format"), ""):
        return address  # Go's q.Get("format"): the first value decides
    pairs = [(key, value) for key, value in pairs if key != "format"] + [("format", "full")]
    return urllib.parse.urlunsplit(parts._replace(query=go_query_encode(pairs)))


def payload(event: Event) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "message"}
    if event.message:
        message["text"] = event.message
    body: list[dict[str, Any]] = [message]
    if event.metadata:
        items = [{"key": k, "value": v} for k, v in gojson.go_sorted(event.metadata).items()]
        body.append({"type": "fields", "items": items})
    head = {"text": obj_dot(event), "sub_head": {"text": event.severity}}
    return {"content": {"head": head, "body": body}}


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    return [json_request(webhook_url(cfg.address), payload(event), {"Authorization": cfg.token})]
