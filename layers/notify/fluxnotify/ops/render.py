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
from fluxnotify.config.options import ConfigError, ProviderConfig, SecretLookup, referenced_secret_forms
from fluxnotify.delivery.annotations import DEFAULT_CLUSTER
from fluxnotify.delivery.plan import Context, Planned
from fluxnotify.delivery.planner import Planner
from fluxnotify.errors import Outcome
from fluxnotify.ingress.clusters import tag_cluster
from fluxnotify.model.event import Event, clean_metadata, strip_internal
from fluxnotify.model.manifests import Alert, Manifest, Provider, Secret
from fluxnotify.ops.rendermask import mask_value
from fluxnotify.providers.base import ProviderError, Skip
from fluxnotify.state.incidents import IncidentStore
from fluxnotify.state.onchange import OnChangeStore
from fluxnotify.state.silences import SilenceSource
from fluxnotify.transport.http import Request, environment_proxy


def render(objects: list[Manifest], raw_event: Event, cluster: str = DEFAULT_CLUSTER,
           no_cross_namespace_refs: bool = False, silences: SilenceSource | None = None,
           show_secrets: bool = True, onchange: OnChangeStore | None = None,
           incidents: IncidentStore | None = None) -> list[dict[str, Any]]:
    """One result per Provider, in file order, then one per Alert that selects the event but
    names a Provider missing from the files (an error: serve dead-letters it). ``silences``:
    those of `render --db` (a matching one skips the event, as serve would); ``onchange``: its
    on-change state, read only (without it, decided as on an empty state).

    ``show_secrets`` False masks every credential (ops/rendermask.py), as the command does by
    default; the library default shows the requests exactly as they go out."""
    secrets = {o.metadata.key: o.data for o in objects if isinstance(o, Secret)}
    alerts = [o for o in objects if isinstance(o, Alert)]
    found = {o.metadata.key: o for o in objects if isinstance(o, Provider)}
    planner = Planner(lambda ns, n: found.get(f"{ns}/{n}"), lambda ns, n: secrets.get(f"{ns}/{n}"))
    cluster = cluster or DEFAULT_CLUSTER
    event = tag_cluster(strip_internal(clean_metadata(raw_event)), cluster)  # what the receiver queues
    context = Context(cluster, no_cross_namespace_refs, silences=silences, onchange=onchange, incidents=incidents,
                      preview=True)  # read only
    plan = planner.plan(event, alerts, context)
    results = [_provider_result(provider, [p for p in plan if p.provider_key == key], planner, event, context)
               for key, provider in found.items()]
    results += [(_result(item), item) for item in plan if item.routed and item.provider is None]
    if show_secrets:
        return [result for result, _ in results]
    return [mask_value(result, secrets_of(item, planner.get_secret)) for result, item in results]


def secrets_of(item: Planned, get_secret: SecretLookup) -> list[str]:
    """Every form of the credentials a planned item carries (or its Provider references)."""
    if item.config is not None:
        return item.config.sensitive_values()
    return referenced_secret_forms(item.provider, get_secret)


def _provider_result(provider: Provider, items: list[Planned], planner: Planner, event: Event,
                     context: Context) -> tuple[dict[str, Any], Planned]:
    """The first Alert that routes the event to the Provider; else why none does; without
    Alerts, as if one had routed the event to it."""
    if not items:
        item = planner.plan_one(event, None, provider, context)
        return _result(item), item
    routed = next((item for item in items if item.routed), None)
    if routed is not None:
        return _result(routed), routed
    reasons = "; ".join(item.detail for item in items)
    item = Planned(None, provider.metadata.key, provider, outcome=Outcome.SKIPPED)
    result = _result(item)
    result["skipped"] = "no Alert selects the event: " + reasons
    return result, item


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
            if item.detail:  # what a stage noted, e.g. on-change without a stored state
                result["note"] = item.detail
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


_TARGET_KEYS = ("topic", "bus", "server", "subject", "url", "address")  # what names a non-HTTP delivery


def table(results: list[dict[str, Any]]) -> str:
    """`render -o table`: one line per delivery (provider, type, outcome, method and URL) or
    per skipped, gathered or failed Provider (the rule or the error)."""
    rows = [("PROVIDER", "TYPE", "OUTCOME", "REQUEST / REASON")]
    for result in results:
        name, kind = result["provider"], result["type"] or "-"
        if result["error"]:
            rows.append((name, kind, "error", result["error"]))
        elif result["skipped"] or result.get("gathered"):
            outcome = "skipped" if result["skipped"] else "gathered"
            rows.append((name, kind, outcome, result["skipped"] or result["gathered"]))
        for delivery in result["deliveries"]:
            rows.append((name, kind, "deliver", _target(delivery)))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[3]]).rstrip()
                     for row in rows) + "\n"


def _target(delivery: dict[str, Any]) -> str:
    if "method" in delivery:
        return f"{delivery['method']} {delivery['url']}"
    named = [f"{key} {delivery[key]}" for key in _TARGET_KEYS if delivery.get(key)]
    return " ".join([delivery.get("transport", "?"), *named[:1]])
