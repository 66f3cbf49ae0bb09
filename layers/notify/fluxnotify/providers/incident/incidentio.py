"""`incident.io`: one alert event per Flux event to an HTTP alert source (spec §5.34).

Severity error fires the alert; anything else resolves it. The involved object's UID is
the deduplication key, so the resolve closes what the error opened.
"""

from __future__ import annotations

from typing import Any

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import Skip, json_request, obj_dot, require_url
from fluxnotify.providers.git.gitstatus import PROGRESSING
from fluxnotify.transport.http import Request


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid incident.io alert source URL {address}: '{error}'")
    if not cfg.token:
        raise ConfigError("empty incident.io API token")


def payload(event: Event) -> dict[str, Any]:
    metadata = {**event.metadata, "severity": event.severity, "reason": event.reason}
    if event.reporting_controller:
        metadata["reportingController"] = event.reporting_controller
    body: dict[str, Any] = {
        "title": f"{obj_dot(event)}: {event.reason}",
        "status": "firing" if event.severity == "error" else "resolved",
        "deduplication_key": event.involved_object.uid,
    }
    if event.message:
        body["description"] = event.message
    body["metadata"] = gojson.go_sorted(metadata)
    return body


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    if event.reason == PROGRESSING:
        raise Skip(PROGRESSING)
    return [json_request(cfg.address, payload(event), {"Authorization": f"Bearer {cfg.token}"})]
