"""`fluxnotify render`: what each Provider in the files would send for an event (DESIGN.md).

Runs the dispatcher's own path (door clean-up, Alert matching, drop rules, metadata merge,
options, encode) without any network I/O, and tells the truth about it: a Provider whose
Alerts in the files would not select the event is `skipped` with the rule, an unsupported
type is an error saying so, and each HTTP delivery shows the proxy and timeout it would use.
"""

from __future__ import annotations

import json
from typing import Any

from fluxnotify import providers
from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.delivery import extensions
from fluxnotify.delivery.pipeline import prepare
from fluxnotify.delivery.routing import mismatch
from fluxnotify.model.event import Event, clean_metadata, strip_internal
from fluxnotify.model.manifests import Alert, Manifest, Provider, Secret
from fluxnotify.providers.base import ProviderError, Skip
from fluxnotify.transport.http import Request, environment_proxy

# Types whose rendered request goes out without the configured proxy (spec §3.5: "px" no,
# or used for a token fetch only).
DIRECT_TYPES = frozenset({
    "sentry", "lark", "matrix", "nats", "github", "gitlab", "bitbucket", "bitbucketserver",
    "azuredevops", "githubdispatch", "githubpullrequestcomment", "gitlabmergerequestcomment",
})  # fmt: skip


def render(objects: list[Manifest], raw_event: Event) -> list[dict[str, Any]]:
    """One result per Provider, in file order."""
    secrets = {o.metadata.key: o.data for o in objects if isinstance(o, Secret)}
    alerts = [o for o in objects if isinstance(o, Alert)]
    event = strip_internal(clean_metadata(raw_event))
    results = []
    for provider in (o for o in objects if isinstance(o, Provider)):
        results.append(render_one(event, alerts, provider, lambda ns, n: secrets.get(f"{ns}/{n}")))
    return results


def render_one(event: Event, alerts: list[Alert], provider: Provider, get_secret) -> dict[str, Any]:
    result: dict[str, Any] = {
        "provider": provider.metadata.key,
        "type": provider.spec.type,
        "deliveries": [],
        "skipped": None,
        "error": None,
    }
    try:
        providers.get(provider.spec.type)  # unsupported is an error, whatever the drop rules say
        alert, skipped = _routing(event, provider, alerts)
        if skipped:
            raise Skip(skipped)
        prepared = prepare(event, alert, provider, get_secret)
        prepared = extensions.preview(prepared, event, alert, provider, get_secret)  # digests
        deliveries = prepared.module.encode(prepared.event, prepared.config)
        result["deliveries"] = [delivery_json(d, prepared.config) for d in deliveries]
    except Skip as skip:
        result["skipped"] = str(skip)
    except (ConfigError, ProviderError) as err:
        result["error"] = str(err)
    return result


def _routing(event: Event, provider: Provider, alerts: list[Alert]) -> tuple[Alert | None, str | None]:
    """The Alert that routes the event to the Provider; or, when Alerts in the files reference
    it and none selects the event, why (a real delivery skips it then)."""
    referencing = [
        alert for alert in alerts
        if alert.metadata.namespace == provider.metadata.namespace
        and alert.spec.provider_ref.name == provider.metadata.name
    ]  # fmt: skip
    if not referencing:
        return None, None  # rendered as if an Alert had routed the event to it
    reasons = []
    for alert in referencing:
        reason = mismatch(event, alert)
        if reason is None:
            return alert, None
        reasons.append(reason)
    return None, "no Alert selects the event: " + "; ".join(reasons)


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
    if config.type in DIRECT_TYPES:
        return ""
    return config.proxy or environment_proxy(url)
