"""`opsgenie`: one alert per event to the Opsgenie Alert API (spec §5.18).

The alias makes Opsgenie de-duplicate repeated events of the same object and reason:
it hashes only the provider UID, the object and the reason, never the message.
"""

from __future__ import annotations

import hashlib

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, require_url
from fluxnotify.transport.http import Request


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid Opsgenie hook URL {address}: '{error}'")
    if not cfg.token:
        raise ConfigError("empty Opsgenie apikey/token")


def alias(event: Event, provider_uid: str) -> str:
    """Lower-case hex SHA-256 of `<providerUID>/<kind>/<namespace>/<name>/<reason>`."""
    ref = event.involved_object
    key = f"{provider_uid}/{ref.kind}/{ref.namespace}/{ref.name}/{event.reason}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def payload(event: Event, provider_uid: str) -> dict:
    ref = event.involved_object
    # `details` is a Go map: metadata plus severity (which wins), keys sorted as Go writes them.
    details = gojson.go_sorted({**event.metadata, "severity": event.severity})
    return {
        "message": f"{ref.kind}/{ref.name}",
        "alias": alias(event, provider_uid),
        "description": event.message,
        "details": details,
    }


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    headers = {"Authorization": f"GenieKey {cfg.token}"}
    return [json_request(cfg.address, payload(event, cfg.uid), headers)]
