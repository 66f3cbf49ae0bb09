"""`pagerduty`: Events API v2 — trigger or resolve, plus a change event for info (spec §5.28).

The dedup key is the involved object's UID, so an error event opens an incident that the
next non-error event of the same object resolves. Only scheme and host[:port] of the
address are kept; the channel is the routing (integration) key.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import Skip, json_request, require_url, send_one
from fluxnotify.providers.git.gitstatus import PROGRESSING, description, object_name
from fluxnotify.transport.http import Request, Transport

ZERO_TIME = "0001-01-01T00:00:00Z"


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid PagerDuty endpoint URL \"{address}\": '{error}'")


def endpoint(address: str) -> str:
    """`https://events.eu.pagerduty.com/v2/enqueue` → `https://events.eu.pagerduty.com`."""
    parts = urllib.parse.urlsplit(address)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _details(event: Event) -> dict[str, Any]:
    metadata = gojson.go_sorted(event.metadata) if event.metadata else None
    return {"message": event.message, "metadata": metadata}


def _summary(event: Event) -> str:
    return f"{description(event.reason)}: {object_name(event)}"


def alert_event(event: Event, routing_key: str) -> dict[str, Any]:
    """A trigger for severity error, otherwise a resolve of the same dedup key."""
    ref = event.involved_object
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger" if event.severity == "error" else "resolve",
    }
    if ref.uid:
        body["dedup_key"] = ref.uid
    if event.severity != "error":
        return body
    payload: dict[str, Any] = {
        "summary": _summary(event),
        "source": f"Flux {event.reporting_controller}",
        "severity": "error",
        "timestamp": event.timestamp_text() or ZERO_TIME,
    }
    if ref.name:
        payload["component"] = ref.name
    if ref.kind:
        payload["group"] = ref.kind
    payload["custom_details"] = _details(event)
    body["payload"] = payload
    return body


def change_event(event: Event, routing_key: str) -> dict[str, Any]:
    return {
        "routing_key": routing_key,
        "payload": {
            "summary": _summary(event),
            "source": f"Flux {event.reporting_controller}",
            "timestamp": event.timestamp_text() or ZERO_TIME,
            "custom_details": _details(event),
        },
    }


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    if event.reason == PROGRESSING:
        raise Skip(PROGRESSING)
    base = endpoint(cfg.address)
    requests = [json_request(f"{base}/v2/enqueue", alert_event(event, cfg.channel))]
    if event.severity == "info":
        requests.append(json_request(f"{base}/v2/change/enqueue", change_event(event, cfg.channel)))
    return requests


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    prefixes = ["failed sending event: ", "failed sending change event: "]
    for request, prefix in zip(encode(event, cfg), prefixes, strict=False):
        send_one(request, cfg, transport, prefix=prefix)
