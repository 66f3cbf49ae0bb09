"""`generic`: the event itself, Go-JSON, POSTed to a URL (spec §5.5)."""

from __future__ import annotations

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import header_value, merge_headers, require_url
from fluxnotify.transport.http import Request


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid hook URL {address}: {error}")


def base_request(event: Event, cfg: ProviderConfig) -> Request:
    body = event.go_json().encode("utf-8")
    headers = merge_headers(
        {"Content-Type": "application/json", "Gotk-Component": header_value(event.reporting_controller)},
        cfg.headers,
    )
    return Request("POST", cfg.address, headers, body)


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    return [base_request(event, cfg)]
