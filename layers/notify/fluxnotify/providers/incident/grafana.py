"""`grafana`: one Graphite-style annotation per event to the annotations API (spec §5.20).

Auth: Bearer with the token when set, else Basic when username and password are both set.
"""

from __future__ import annotations

import base64

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, obj_dot, require_url
from fluxnotify.transport.http import Request

# Go's zero time (0001-01-01T00:00:00Z) as Unix seconds: what the reference sends without a timestamp.
ZERO_UNIX = -62135596800


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid Grafana URL {address}")


def unix_seconds(event: Event) -> int:
    return int(event.timestamp.timestamp()) if event.timestamp is not None else ZERO_UNIX


def tags(event: Event) -> list[str]:
    ref = event.involved_object
    metadata = [
        f"{key.replace(':', '|')}: {value.replace(':', '|')}"
        for key, value in gojson.go_sorted(event.metadata).items()
    ]
    return [
        "flux",
        event.reporting_controller,
        *metadata,
        f"kind: {ref.kind}",
        f"name: {ref.name}",
        f"namespace: {ref.namespace}",
    ]


def auth_header(cfg: ProviderConfig) -> dict[str, str]:
    if cfg.token:
        return {"Authorization": f"Bearer {cfg.token}"}
    if cfg.username and cfg.password:
        basic = base64.b64encode(f"{cfg.username}:{cfg.password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {basic}"}
    return {}


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    payload = {"when": unix_seconds(event), "text": obj_dot(event), "tags": tags(event)}
    return [json_request(cfg.address, payload, auth_header(cfg))]
