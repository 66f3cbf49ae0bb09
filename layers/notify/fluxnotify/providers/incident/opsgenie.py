"""`opsgenie`: one alert per event to the Opsgenie Alert API (spec §5.18).

The alias makes Opsgenie de-duplicate repeated events of the same object and reason:
it hashes only the provider UID, the object and the reason, never the message.

With ``fluxnotify.io/resolve: "true"`` (delivery/stages/resolve.py) the alias of each error is
kept, and the object's next non-error event closes those alerts instead of creating one:
``POST <address>/<alias>/close?identifierType=alias``, same GenieKey, the event's message as
the note (docs/providers/opsgenie.md).
"""

from __future__ import annotations

import hashlib
import urllib.parse
from typing import Any

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


def incident(event: Event, cfg: ProviderConfig) -> tuple[str, dict[str, Any]]:
    """What an error opens: its alias (the entry id too)."""
    key = alias(event, cfg.uid)
    return key, {"alias": key}


def close_url(address: str, key: str) -> str:
    parts = urllib.parse.urlsplit(address)
    path = f"{parts.path.rstrip('/')}/{urllib.parse.quote(key, safe='')}/close"
    query = "&".join(q for q in (parts.query, "identifierType=alias") if q)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def encode_resolve(event: Event, cfg: ProviderConfig, opened: list[dict[str, Any]]) -> list[Request]:
    """Close every alert the object's errors opened, by alias."""
    headers = {"Authorization": f"GenieKey {cfg.token}"}
    return [json_request(close_url(cfg.address, entry["alias"]), {"note": event.message}, headers)
            for entry in opened if isinstance(entry.get("alias"), str)]
