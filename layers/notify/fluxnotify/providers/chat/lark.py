"""`lark`: Lark / Feishu custom bot webhooks, interactive card (spec §5.16).

Neither proxy nor TLS material is honoured (quirk §7.4), and the URL error reuses the
Slack wording (quirk §7.3).
"""

from __future__ import annotations

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, obj_dot, require_url, send_all
from fluxnotify.transport.http import Request, Transport


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid Slack hook URL {address}")


def payload(event: Event) -> dict:
    emoji, template = ("🚨", "red") if event.severity == "error" else ("💫", "turquoise")
    content = f"**{event.message}**\n\n"
    for key, value in gojson.go_sorted(event.metadata).items():
        content += f"{key}: {value}\n"
    return {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "title": {"tag": "plain_text", "content": f"{emoji} {obj_dot(event)}"},
                "template": template,
            },
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": content}}],
        },
    }


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    return [json_request(cfg.address, payload(event))]


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    send_all(encode(event, cfg), cfg, transport, use_proxy=False, use_tls=False)
