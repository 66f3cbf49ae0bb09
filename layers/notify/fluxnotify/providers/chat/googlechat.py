"""`googlechat`: Google Chat incoming webhooks, cards v1 (spec §5.11).

The explicit ``null`` keys are part of the reference's wire format. Proxy honoured,
TLS material ignored (spec §3.5, quirk §7.4).
"""

from __future__ import annotations

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, obj_dot, require_url, send_all
from fluxnotify.transport.http import Request, Transport


def validate(cfg: ProviderConfig) -> None:
    # The reference does not wrap the parse error here.
    require_url(cfg.address, "invalid Google Chat hook URL {address}")


def _text(event: Event) -> str:
    if event.severity == "error":
        return f'<font color="#ff0000">{event.message}</font>'
    return event.message


def _fact(key: str, value: str) -> dict:
    return {
        "textParagraph": None,
        "keyValue": {
            "topLabel": key,
            "content": value,
            "contentMultiline": False,
            "bottomLabel": None,
            "icon": None,
        },
    }


def payload(event: Event) -> dict:
    sections = [{"header": "", "widgets": [{"textParagraph": {"text": _text(event)}, "keyValue": None}]}]
    if event.metadata:
        facts = [_fact(k, v) for k, v in gojson.go_sorted(event.metadata).items()]
        sections.append({"header": "", "widgets": facts})
    header = {
        "title": obj_dot(event),
        "subtitle": event.reporting_controller,
        "imageUrl": None,
        "imageStyle": None,
    }
    return {"cards": [{"header": header, "sections": sections}]}


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    return [json_request(cfg.address, payload(event))]


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    send_all(encode(event, cfg), cfg, transport, use_tls=False)
