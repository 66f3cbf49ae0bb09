"""`discord`: Discord's Slack-compatible webhook endpoint (spec §5.2).

The body is the Slack attachment shape (``slack.attachment_payload``) with the channel
always empty (Discord ignores ``spec.channel``) and an empty ``fallback``. The webhook URL
gets a ``/slack`` path suffix unless it already ends with one; the query is kept.
Proxy honoured, TLS material ignored (spec §3.5, quirk §7.4).

Beyond the reference: Discord rejects message text over 2,000 characters, so the event
message is cut to fit, with a visible marker (``MAX_TEXT``, ``TRUNCATED``).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import replace

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, require_url, send_all
from fluxnotify.providers.chat.slack import attachment_payload
from fluxnotify.transport.http import Request, Transport

MAX_TEXT = 2000  # Discord's limit on message/attachment text, in characters
TRUNCATED = "… (truncated)"


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid Discord hook URL {address}: '{error}'")


def webhook_url(address: str) -> str:
    """The address with '/slack' appended to its path (Go path.Join), query kept."""
    if address.endswith("/slack"):
        return address
    parts = urllib.parse.urlsplit(address)
    path = go_path_clean(parts.path + "/slack") if parts.path else "slack"
    if parts.netloc and not path.startswith("/"):
        path = "/" + path  # Go's URL.String() roots the path when there is a host
    return urllib.parse.urlunsplit(parts._replace(path=path))


def go_path_clean(path: str) -> str:
    """Go's path.Clean: collapse '//', resolve '.' and '..', drop a trailing '/'."""
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = ("/" if rooted else "") + "/".join(out)
    return cleaned or "."


def truncate(message: str, limit: int = MAX_TEXT) -> str:
    """The message, or its head plus the marker so that the whole is ``limit`` characters."""
    if len(message) <= limit:
        return message
    return message[: limit - len(TRUNCATED)] + TRUNCATED


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    payload = attachment_payload(
        replace(event, message=truncate(event.message)),
        channel="",
        username=cfg.username or event.reporting_controller,
        fallback="",
        color="danger" if event.severity == "error" else "good",
    )
    return [json_request(webhook_url(cfg.address), payload)]


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    send_all(encode(event, cfg), cfg, transport, use_tls=False)
