"""`fluxnotify render`: what each Provider in the files would send for an event (DESIGN.md).

Runs the dispatcher's own path (door clean-up, drop rules, metadata merge, options,
encode) without any network I/O.
"""

from __future__ import annotations

import json
from typing import Any

from fluxnotify.config.options import ConfigError
from fluxnotify.delivery.pipeline import prepare
from fluxnotify.model.event import Event, clean_metadata, strip_internal
from fluxnotify.model.manifests import Alert, Manifest, Provider, Secret
from fluxnotify.providers.base import ProviderError, Skip
from fluxnotify.transport.http import Request


def render(objects: list[Manifest], raw_event: Event) -> list[dict[str, Any]]:
    """One result per Provider, in file order."""
    secrets = {o.metadata.key: o.data for o in objects if isinstance(o, Secret)}
    alerts = [o for o in objects if isinstance(o, Alert)]
    event = strip_internal(clean_metadata(raw_event))
    results = []
    for provider in (o for o in objects if isinstance(o, Provider)):
        alert = _first_alert_for(provider, alerts)
        results.append(render_one(event, alert, provider, lambda ns, n: secrets.get(f"{ns}/{n}")))
    return results


def render_one(event: Event, alert: Alert | None, provider: Provider, get_secret) -> dict[str, Any]:
    result: dict[str, Any] = {
        "provider": provider.metadata.key,
        "type": provider.spec.type,
        "deliveries": [],
        "skipped": None,
        "error": None,
    }
    try:
        prepared = prepare(event, alert, provider, get_secret)
        deliveries = prepared.module.encode(prepared.event, prepared.config)
        result["deliveries"] = [delivery_json(d) for d in deliveries]
    except Skip as skip:
        result["skipped"] = str(skip)
    except (ConfigError, ProviderError) as err:
        result["error"] = str(err)
    return result


def delivery_json(delivery: Any) -> dict[str, Any]:
    if not isinstance(delivery, Request):
        return delivery.render()  # non-HTTP deliveries describe themselves
    raw = delivery.body.decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw
    return {
        "method": delivery.method,
        "url": delivery.url,
        "headers": dict(delivery.headers),
        "body": body,
        "raw": raw,
    }


def _first_alert_for(provider: Provider, alerts: list[Alert]) -> Alert | None:
    for alert in alerts:
        if (
            alert.metadata.namespace == provider.metadata.namespace
            and alert.spec.provider_ref.name == provider.metadata.name
        ):
            return alert
    return None
