"""`mattermost`: Mattermost natively (fluxnotify's own type; Flux says "use the slack type").

Two modes, chosen by the Secret:

* with a ``token`` (a bot's or a personal access token): the posts API,
  ``POST {address}/api/v4/posts`` with ``Authorization: Bearer``, ``address`` being the
  server URL and ``channel`` the channel id; the body is
  ``{"channel_id", "message": "", "props": {"attachments": [...]}}``;
* without one: an incoming webhook, ``address`` being the hook URL (``…/hooks/<id>``, a
  secret: keep it in the Secret); the body is ``{"channel"?, "username"?, "attachments"}``.

Both carry one message attachment (Mattermost's Slack-compatible shape) coloured by
severity as notification-controller colours Slack's: ``danger`` for errors, ``good``
otherwise. Proxy and TLS (certSecretRef) honoured.
"""

from __future__ import annotations

import re
import urllib.parse

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import headline, json_request, require_url
from fluxnotify.transport.http import Request

MAX_TEXT = 16000  # below Mattermost's 16,383-character post limit
TRUNCATED = "… (truncated)"
_CHANNEL_ID = re.compile(r"[a-z0-9]{26}")  # Mattermost ids: 26 lowercase letters and digits


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid Mattermost URL {address}: '{error}'")
    parts = urllib.parse.urlsplit(cfg.address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"invalid Mattermost URL: expected http(s)://…, got scheme {parts.scheme!r}")
    if cfg.token:
        if not _CHANNEL_ID.fullmatch(cfg.channel):
            raise ConfigError(
                "Mattermost channel (spec.channel) must be a channel id (26 lowercase letters and "
                "digits, shown under the channel's View Info) when a token is set, "
                f"got {cfg.channel!r}"
            )
    elif "/hooks/" not in parts.path:
        raise ConfigError(
            "Mattermost: without a token the address must be an incoming webhook URL "
            "(https://mattermost.example.com/hooks/<id>); for the posts API put a bot token "
            "in the Secret (key token) and the channel id in spec.channel"
        )


def truncate(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def attachment(event: Event) -> dict:
    title = headline(event)
    first_line = event.message.split("\n", 1)[0]
    return {
        "fallback": f"{title}: {first_line}" if first_line else title,
        "color": "danger" if event.severity == "error" else "good",
        "title": title,
        "text": truncate(event.message),
        "fields": [
            {"title": key, "value": value, "short": False}
            for key, value in gojson.go_sorted(event.metadata).items()
        ],
    }


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    if cfg.token:
        url = cfg.address.rstrip("/") + "/api/v4/posts"
        payload: dict = {"channel_id": cfg.channel, "message": "", "props": {"attachments": [attachment(event)]}}
        return [json_request(url, payload, {"Authorization": f"Bearer {cfg.token}"})]
    # channel and username are optional: the hook's own defaults apply when they are empty.
    payload = {key: value for key, value in (("channel", cfg.channel), ("username", cfg.username)) if value}
    payload["attachments"] = [attachment(event)]
    return [json_request(cfg.address, payload)]
