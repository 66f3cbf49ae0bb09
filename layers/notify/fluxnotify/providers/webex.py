"""`webex`: the Webex messages API with a bot token (spec §5.12).

Intended address: ``https://webexapis.com/v1/messages``; ``spec.channel`` is the room id.
The bearer header is always sent, even with an empty token. Proxy and TLS honoured.
"""

from __future__ import annotations

from .. import gojson
from ..event import Event
from ..options import ProviderConfig
from ..transport import Request
from .base import json_request, obj_dot, require_url


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
