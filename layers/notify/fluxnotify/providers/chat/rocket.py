"""`rocket`: Rocket.Chat incoming webhooks, Slack attachment shape (spec §5.4).

Unlike Slack, the username is not defaulted to the reporting controller (quirk §7.5)
and the colours are hex codes. Proxy and TLS honoured, no auth header.
"""

from __future__ import annotations

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, require_url
from fluxnotify.providers.chat.slack import attachment_payload
from fluxnotify.transport.http import Request


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid Rocket hook URL {address}: '{error}'")


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    payload = attachment_payload(
        event,
        channel=cfg.channel,
        username=cfg.username,
        fallback="",
        color="#FF0000" if event.severity == "error" else "#0076D7",
    )
    return [json_request(cfg.address, payload)]
