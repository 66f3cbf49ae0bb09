"""`fluxnotify render`: what each Provider in the files would send for an event (DESIGN.md).

Prints the dispatcher's own plan (delivery/planner.py: door clean-up, the one Alert matcher,
drop rules, stages, options, encode) without any network I/O: a Provider whose Alerts would
not select the event is `skipped` with the matcher's rule, an unsupported type, a missing
Provider or a failing template is an `error`, an event a digest would gather says so
(`gathered`), and each HTTP delivery shows the proxy and timeout it would use.
"""

from __future__ import annotations

import json
from typing import Any

from fluxnotify import providers
from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.delivery.annotations import DEFAULT_CLUSTER
from fluxnotify.delivery.plan import Context, Planned
from fluxnotify.delivery.planner import Planner
from fluxnotify.errors import Outcome
from fluxnotify.ingress.clusters import tag_cluster
from fluxnotify.model.event import Event, clean_metadata, strip_internal
from fluxnotify.model.manifests import Alert, Manifest, Provider, Secret
from fluxnotify.providers.base import ProviderError, Skip
from fluxnotify.state.incidents import IncidentStore
from fluxnotify.transport.http import Request, environment_proxy


def render(objects: list[Manifest], raw_event: Event, cluster: str = DEFAULT_CLUSTER,
           no_cross_namespace_refs: bool = False, incidents: IncidentStore | None = None) -> list[dict[str, Any]]:
    """One result per Provider, in file order, then one per Alert that selects the event but
    names a Provider missing from the files (an error: serve dead-letters it)."""
    secrets = {o.metadata.key: o.data for o in objects if isinstance(o, Secret)}
    alerts = [o for o in objects if isinstance(o, Alert)]
    found = {o.metadata.key: o for o in objects if isinstance(o, Provider)}
    planner = Planner(lambda ns, n: found.get(f"{ns}/{n}"), lambda ns, n: secrets.get(f"{ns}/{n}"))
    cluster = cluster or DEFAULT_CLUSTER
    event = tag_cluster(strip_internal(clean_metadata(raw_event)), cluster)  # what the receiver queues
    context = Context(cluster, no_cross_namespace_refs, incidents=incidents)  # read only
    plan = planner.plan(event, alerts, context)
    results = [_provider_result(provider, [p for p in plan if p.provider_key == key], planner, event, context)
               for key, provider in found.items()]
    for item in plan:
        if item.routed and item.provider is None:
            results.append(_result(item))
    return results


def _provider_result(provider: Provider, items: list[Planned], planner: Planner, event: Event,
                     context: Context) -> dict[str, Any]:
    """The first Alert that routes the event to the Provider; else why none does; without
    Alerts, as if one had routed the event to it."""
    if not items:
        return _result(planner.plan_one(event, None, provider, context))
    routed = next((item for item in items if item.routed), None)
    if routed is not None:
        return _result(routed)
    reasons = "; ".join(item.detail for item in items)
    result = _result(Planned(None, provider.metadata.key, provider, outcome=Outcome.SKIPPED))
    result["skipped"] = "no Alert selects the event: " + reasons
    return result


def _result(item: Planned) -> dict[str, Any]:
    result: dict[str, Any] = {
        "provider": item.provider_key,
        "type": item.provider_type or None,
        "deliveries": [],
        "skipped": None,
        "error": None,
    }
    if item.provider is None and item.alert is not None:  # a missing Provider: which Alert names it
        result["alert"] = item.target
    try:
        if item.provider is not None:
            providers.get(item.provider.spec.type)  # unsupported is an error, whatever the rules say
        if item.outcome in (Outcome.DEAD, Outcome.RETRY):
            result["error"] = item.detail
        elif item.outcome == Outcome.SKIPPED:
            result["skipped"] = item.detail
        elif item.outcome == Outcome.GATHERED:
            result["gathered"] = item.detail
        else:
            result["deliveries"] = [delivery_json(d, item.config) for d in item.requests()]
    except Skip as skip:
        result["skipped"] = str(skip)
    except (ConfigError, ProviderError) as err:
        result["error"] = str(err)
    if item.incident is not None and item.outcome == Outcome.DELIVERED:
        result["resolve"] = item.incident.note
    if item.template_error is not None:
        result["template_error"] = item.template_error
        result["error"] = result["error"] or f"message template failed: {item.template_error}"
    return result


def delivery_json(delivery: Any, config: ProviderConfig | None = None) -> dict[str, Any]:
    if not isinstance(delivery, Request):
        return delivery.render()  # non-HTTP deliveries describe themselves
    raw = delivery.body.decode("utf-8", errors="replace")
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw
    rendered: dict[str, Any] = {
        "method": delivery.method,
        "url": delivery.url,
        "headers": dict(delivery.headers),
        "body": body,
        "raw": raw,
    }
    if config is not None:
        rendered["proxy"] = _proxy(delivery.url, config) or None
        rendered["timeout"] = config.timeout
    return rendered


def _proxy(url: str, config: ProviderConfig) -> str:
    if providers.capabilities(config.type).direct:
        return ""
    return config.proxy or environment_proxy(url)
