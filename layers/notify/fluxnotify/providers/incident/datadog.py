"""`datadog`: one event per Flux event to the Datadog Events API v1 (spec §5.29).

The reference uses Datadog's Go SDK; what it sends is one JSON POST, so this module
builds it directly. Only scheme and host of the address are used (the Datadog site);
without an address the default site is used, as the SDK does.
"""

from __future__ import annotations

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import go_quote, json_request, parse_error, send_all
from fluxnotify.providers.incident.grafana import unix_seconds
from fluxnotify.transport.http import Request, Transport

DEFAULT_SITE = "https://api.datadoghq.com"


def validate(cfg: ProviderConfig) -> None:
    if not cfg.token:
        raise ConfigError("token cannot be empty")
    error = parse_error(cfg.address)
    if error is not None:
        raise ConfigError(f"failed to parse address {go_quote(cfg.address)}: {error}")
    error = parse_error(cfg.proxy)
    if error is not None:
        raise ConfigError(f"failed to parse proxy URL {go_quote(cfg.proxy)}: {error}")


def site(address: str) -> str:
    """scheme://host of the address (path ignored), or the SDK's default site."""
    if "://" not in address:
        return DEFAULT_SITE
    scheme, _, rest = address.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
    return f"{scheme}://{host}" if scheme and host else DEFAULT_SITE


def tags(event: Event) -> list[str]:
    ref = event.involved_object
    fixed = [
        f"flux_reporting_controller:{event.reporting_controller}",
        f"flux_reason:{event.reason}",
        f"kube_kind:{ref.kind}",
        f"kube_name:{ref.name}",
        f"kube_namespace:{ref.namespace}",
    ]
    metadata = [f"{key}:{value}" for key, value in gojson.go_sorted(event.metadata).items()]
    return [tag.lower() for tag in fixed + metadata]


def payload(event: Event) -> dict:
    ref = event.involved_object
    return {
        "alert_type": "error" if event.severity == "error" else "info",
        "date_happened": unix_seconds(event),
        "source_type_name": "fluxcd",
        "tags": tags(event),
        "text": event.message,
        "title": f"Events from the {ref.kind} {ref.name}/{ref.namespace}",
    }


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    headers = {"DD-API-KEY": cfg.token, "Accept": "application/json"}
    return [json_request(f"{site(cfg.address)}/api/v1/events", payload(event), headers)]


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    send_all(encode(event, cfg), cfg, transport, prefix="failed to post event to DataDog: ")
