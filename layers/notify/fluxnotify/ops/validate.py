"""The `Ready` condition of each Provider and Alert (v1beta1 API shape), as `validate` reports it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from fluxnotify import providers
from fluxnotify.config.hints import explain
from fluxnotify.config.options import ConfigError, redact, secret_forms
from fluxnotify.delivery import annotations
from fluxnotify.delivery.routing import pattern_error
from fluxnotify.model.manifests import EVENT_SOURCE_KINDS, Alert, Manifest, Provider, Secret
from fluxnotify.providers import COMMIT_STATUS_TYPES

# Stands in for the per-event commit status id while a Provider alone is validated.
VALIDATION_COMMIT_STATUS = "kind/name/uid"


@dataclass(frozen=True)
class Condition:
    kind: str
    key: str  # namespace/name
    ready: bool
    reason: str  # CamelCase, as Kubernetes conditions have it
    message: str
    source: str = ""
    type: str = "Ready"  # or "Delivering" (ops/status.py, from the recorded outcomes)
    unknown: bool = False  # status "Unknown" (e.g. no delivery recorded yet)

    @property
    def status(self) -> str:
        return "Unknown" if self.unknown else "True" if self.ready else "False"

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.key,
            "type": self.type,
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
        }


def conditions(objects: list[Manifest], no_cross_namespace_refs: bool = False) -> list[Condition]:
    """One Ready condition per Provider and Alert, in file order; no secret in any message.
    ``no_cross_namespace_refs``: Settings.no_cross_namespace_refs (serve's flag)."""
    secrets = {o.metadata.key: o.data for o in objects if isinstance(o, Secret)}
    hidden = secret_forms(v for data in secrets.values() for v in data.values())
    provider_keys = {o.metadata.key for o in objects if isinstance(o, Provider)}
    provider_problems = {
        o.metadata.key: provider_problem(o, lambda ns, n: secrets.get(f"{ns}/{n}")) or _annotations(o, None, False)
        for o in objects if isinstance(o, Provider)
    }  # fmt: skip
    by_key = {o.metadata.key: o for o in objects if isinstance(o, Provider)}
    results = []
    for obj in objects:
        if isinstance(obj, Provider):
            problem = provider_problems[obj.metadata.key]
        elif isinstance(obj, Alert):
            problem = (alert_problem(obj, provider_keys) or _annotations(obj, by_key, no_cross_namespace_refs)
                       or _provider_not_ready(obj, provider_problems))
        else:
            continue
        if problem is None:
            results.append(Condition(obj.kind, obj.metadata.key, True, "Succeeded", "Initialized", obj.source))
        else:
            message = redact(problem[1], hidden)
            results.append(Condition(obj.kind, obj.metadata.key, False, problem[0], message, obj.source))
    return results


def _provider_not_ready(alert: Alert, problems: dict[str, tuple[str, str] | None]) -> tuple[str, str] | None:
    """Flux marks an Alert Ready only when its Provider is Ready too."""
    key = f"{alert.metadata.namespace}/{alert.spec.provider_ref.name}"
    if problems.get(key) is None:
        return None
    return ("ProviderNotReady", f"spec.providerRef.name: Provider '{key}' is not ready")


def provider_problem(provider: Provider, get_secret) -> tuple[str, str] | None:
    spec = provider.spec
    if spec.service_account_name:
        return (
            "ValidationFailed",
            "spec.serviceAccountName: workload identity is not supported by fluxnotify; "
            "store static credentials in the Secret referenced by spec.secretRef",
        )
    if spec.commit_status_expr and spec.type not in COMMIT_STATUS_TYPES:
        return ("ValidationFailed", f"spec.commitStatusExpr is only allowed for commit status types, not {spec.type}")
    try:
        module = providers.get(spec.type)
        config = providers.resolve(provider, get_secret)
        if spec.type in COMMIT_STATUS_TYPES:
            # The commit status id belongs to each event (spec §3.3): validate the rest.
            config = replace(config, commit_status=VALIDATION_COMMIT_STATUS)
    except ConfigError as err:
        return ("ValidationFailed", str(err))
    try:
        module.validate(config)
    except ConfigError as err:
        return ("ValidationFailed", str(explain(err, provider, config, module.validate)))
    return None


def alert_problem(alert: Alert, provider_keys: set[str]) -> tuple[str, str] | None:
    spec = alert.spec
    ns = alert.metadata.namespace
    if f"{ns}/{spec.provider_ref.name}" not in provider_keys:
        return ("ProviderNotFound", f"spec.providerRef.name: Provider '{ns}/{spec.provider_ref.name}' not found")
    if spec.event_severity not in ("info", "error"):
        return ("ValidationFailed", f"spec.eventSeverity: {spec.event_severity!r} must be info or error")
    for index, source in enumerate(spec.event_sources):
        if source.kind not in EVENT_SOURCE_KINDS:
            return ("ValidationFailed", f"spec.eventSources[{index}].kind: {source.kind!r} is not a Flux kind")
        if source.match_labels is not None:
            return (
                "ValidationFailed",
                f"spec.eventSources[{index}].matchLabels: fluxnotify cannot read object labels from "
                "the Kubernetes API, so this source never matches; list objects by name or '*'",
            )
    for field_name in ("inclusion_list", "exclusion_list"):
        for index, pattern in enumerate(getattr(spec, field_name)):
            error = pattern_error(pattern)
            if error is not None:
                camel = "inclusionList" if field_name == "inclusion_list" else "exclusionList"
                return ("ValidationFailed", f"spec.{camel}[{index}]: invalid regular expression {pattern!r}: {error}")
    return None


def _annotations(obj: Provider | Alert, providers_by_key: dict[str, Provider] | None,
                 no_cross_namespace_refs: bool) -> tuple[str, str] | None:
    """The fluxnotify.io/* annotations (delivery/annotations.py) and cluster-wide sources."""
    if isinstance(obj, Provider):
        message = annotations.provider_problem(obj)
    else:
        provider = (providers_by_key or {}).get(f"{obj.metadata.namespace}/{obj.spec.provider_ref.name}")
        message = annotations.alert_problem(obj, provider) or (
            _cross_namespace(obj) if no_cross_namespace_refs else None)
    return None if message is None else ("ValidationFailed", message)


def _cross_namespace(alert: Alert) -> str | None:
    for index, source in enumerate(alert.spec.event_sources):
        if source.namespace and source.namespace != alert.metadata.namespace:
            return (
                f"spec.eventSources[{index}].namespace: {source.namespace!r} is another namespace, "
                "refused under --no-cross-namespace-refs"
            )
    return None
