"""`webex`: the Webex messages API with a bot token (spec §5.12).

Intended address: ``https://webexapis.com/v1/messages``; ``spec.channel`` is the room id.
The bearer header is always sent, even with an empty token. Proxy and TLS honoured.
"""

from __future__ import annotations

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, obj_dot, require_url
from fluxnotify.transport.http import Request


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid Webex hook URL {address}: '{error}'")


def markdown(event: Event) -> str:
    emoji = "💣" if event.severity == "error" else "✅"
    text = f"{emoji} **{obj_dot(event)}**\n{event.message}\n"
    for key, value in gojson.go_sorted(event.metadata).items():
        text += f">**{key}**: {value}\n"
    return text


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    payload: dict[str, str] = {}
    # Both keys are `omitempty` in the reference.
    if cfg.channel:
        payload["roomId"] = cfg.channel
    md = markdown(event)
    if md:
        payload["markdown"] = md
    return [json_request(cfg.address, payload, {"Authorization": f"Bearer {cfg.token}"})]
