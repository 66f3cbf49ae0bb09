"""The `Ready` condition of each Provider and Alert (v1beta1 API shape), as `validate` reports it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from difflib import get_close_matches

from fluxnotify import providers
from fluxnotify.config.files import Loaded, read_manifests
from fluxnotify.config.hints import explain
from fluxnotify.config.options import ConfigError, redact, secret_forms
from fluxnotify.delivery import annotations as extension_keys  # not the __future__ name
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
    message: str  # every problem, joined by "; " (``errors`` lists them)
    source: str = ""
    type: str = "Ready"  # or "Delivering" (ops/status.py, from the recorded outcomes)
    unknown: bool = False  # status "Unknown" (e.g. no delivery recorded yet)
    errors: tuple[str, ...] = ()  # each problem of a not Ready object
    warnings: tuple[str, ...] = ()  # unknown fields and annotations: Ready stays True

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


Problem = tuple[str, str]  # (reason, message)


def conditions(objects: list[Manifest], broken: Iterable[str] = (),
               no_cross_namespace_refs: bool = False) -> list[Condition]:
    """One Ready condition per Provider and Alert, in file order; no secret in any message.

    ``broken``: keys of Providers that could not even be loaded (their Alerts are not Ready);
    ``no_cross_namespace_refs``: Settings.no_cross_namespace_refs (serve's flag).
    """
    secrets = {o.metadata.key: o.data for o in objects if isinstance(o, Secret)}
    hidden = secret_forms(v for data in secrets.values() for v in data.values())
    provider_keys = {o.metadata.key for o in objects if isinstance(o, Provider)} | set(broken)
    problems: dict[str, list[Problem]] = {key: [("ValidationFailed", "")] for key in broken}
    problems |= {
        o.metadata.key: provider_problems(o, lambda ns, n: secrets.get(f"{ns}/{n}")) + _annotations(o, None, False)
        for o in objects if isinstance(o, Provider)
    }  # fmt: skip
    by_key = {o.metadata.key: o for o in objects if isinstance(o, Provider)}
    results = []
    for obj in objects:
        if isinstance(obj, Provider):
            found = problems[obj.metadata.key]
        elif isinstance(obj, Alert):
            found = alert_problems(obj, provider_keys) + _annotations(obj, by_key, no_cross_namespace_refs) + _provider_not_ready(obj, problems)
        else:
            continue
        warnings = tuple(redact(w, hidden) for w in obj.warnings + unknown_annotations(obj))
        if not found:
            results.append(Condition(obj.kind, obj.metadata.key, True, "Succeeded", _initialized(obj), obj.source,
                                     warnings=warnings))
            continue
        messages = tuple(redact(message, hidden) for _, message in found)
        results.append(Condition(obj.kind, obj.metadata.key, False, found[0][0], "; ".join(messages), obj.source,
                                 errors=messages, warnings=warnings))
    return results


def unknown_annotations(obj: Provider | Alert) -> tuple[str, ...]:
    """Warnings for fluxnotify.io/* annotations (or near misses of the prefix) that the object's
    kind does not read, naming the nearest known one (delivery/annotations.py has the list)."""
    is_provider = isinstance(obj, Provider)
    own = extension_keys.PROVIDER_KEYS if is_provider else extension_keys.ALERT_KEYS
    other, other_kind = (extension_keys.ALERT_KEYS, "an Alert") if is_provider else (extension_keys.PROVIDER_KEYS, "a Provider")
    domain = extension_keys.PREFIX.rstrip("/")
    warnings = []
    for key in obj.metadata.annotations:
        prefix = key.rpartition("/")[0]
        if key in own or not (prefix == domain or get_close_matches(prefix, [domain], cutoff=0.8)):
            continue
        names = {known.rpartition("/")[2]: known for known in own + other}  # the shared prefix matches anything
        close = next((names[n] for n in get_close_matches(key.rpartition("/")[2], names, n=1)), None)
        if key == close:
            warnings.append(f"annotation {key} is read on {other_kind} only: ignored here")
        elif close is None:
            warnings.append(f"unknown annotation {key} (known on {obj.kind}s: {', '.join(own)})")
        else:
            where = f" ({other_kind} annotation)" if close in other else ""
            warnings.append(f"unknown annotation {key}: did you mean {close}?{where}")
    return tuple(warnings)


def _initialized(obj: Manifest) -> str:
    """Flux's message, plus a note for fluxnotify's own types (a cluster's Flux refuses them)."""
    if isinstance(obj, Provider) and providers.fluxnotify_only(obj.spec.type):
        return (f"Initialized; note: `{obj.spec.type}` is a fluxnotify type; "
                "Flux's notification-controller would refuse it in a cluster")
    return "Initialized"


def _provider_not_ready(alert: Alert, problems: dict[str, list[Problem]]) -> list[Problem]:
    """Flux marks an Alert Ready only when its Provider is Ready too."""
    key = f"{alert.metadata.namespace}/{alert.spec.provider_ref.name}"
    if not problems.get(key):
        return []
    return [("ProviderNotReady", f"spec.providerRef.name: Provider '{key}' is not ready")]


def provider_problem(provider: Provider, get_secret) -> Problem | None:
    """The first problem of the Provider (``provider_problems`` gives them all), or None."""
    found = provider_problems(provider, get_secret)
    return found[0] if found else None


def provider_problems(provider: Provider, get_secret) -> list[Problem]:
    spec = provider.spec
    found: list[Problem] = []
    if spec.service_account_name:
        found.append((
            "ValidationFailed",
            "spec.serviceAccountName: workload identity is not supported by fluxnotify; "
            "store static credentials in the Secret referenced by spec.secretRef",
        ))
    if spec.commit_status_expr and spec.type not in COMMIT_STATUS_TYPES:
        found.append(("ValidationFailed",
                      f"spec.commitStatusExpr is only allowed for commit status types, not {spec.type}"))
    try:
        module = providers.get(spec.type)
        config = providers.resolve(provider, get_secret)
        if spec.type in COMMIT_STATUS_TYPES:
            # The commit status id belongs to each event (spec §3.3): validate the rest.
            config = replace(config, commit_status=VALIDATION_COMMIT_STATUS)
    except ConfigError as err:
        return found + [("ValidationFailed", str(err))]
    try:
        module.validate(config)
    except ConfigError as err:
        found.append(("ValidationFailed", str(explain(err, provider, config, module.validate))))
    return found


def alert_problem(alert: Alert, provider_keys: set[str]) -> Problem | None:
    """The first problem of the Alert (``alert_problems`` gives them all), or None."""
    found = alert_problems(alert, provider_keys)
    return found[0] if found else None


def alert_problems(alert: Alert, provider_keys: set[str]) -> list[Problem]:
    spec = alert.spec
    ns = alert.metadata.namespace
    found: list[Problem] = []
    if f"{ns}/{spec.provider_ref.name}" not in provider_keys:
        found.append(("ProviderNotFound", f"spec.providerRef.name: Provider '{ns}/{spec.provider_ref.name}' not found"))
    if spec.event_severity not in ("info", "error"):
        found.append(("ValidationFailed", f"spec.eventSeverity: {spec.event_severity!r} must be info or error"))
    for index, source in enumerate(spec.event_sources):
        if source.kind not in EVENT_SOURCE_KINDS:
            found.append(("ValidationFailed", f"spec.eventSources[{index}].kind: {source.kind!r} is not a Flux kind"))
        if source.match_labels is not None:
            found.append((
                "ValidationFailed",
                f"spec.eventSources[{index}].matchLabels: fluxnotify cannot read object labels from "
                "the Kubernetes API, so this source never matches; list objects by name or '*'",
            ))
    for field_name in ("inclusion_list", "exclusion_list"):
        for index, pattern in enumerate(getattr(spec, field_name)):
            error = pattern_error(pattern)
            if error is not None:
                camel = "inclusionList" if field_name == "inclusion_list" else "exclusionList"
                found.append(("ValidationFailed",
                              f"spec.{camel}[{index}]: invalid regular expression {pattern!r}: {error}"))
    return found


def _annotations(obj: Provider | Alert, providers_by_key: dict[str, Provider] | None,
                 no_cross_namespace_refs: bool) -> list[Problem]:
    """The fluxnotify.io/* annotations (delivery/annotations.py) and cluster-wide sources."""
    if isinstance(obj, Provider):
        messages = [extension_keys.provider_problem(obj)]
    else:
        provider = (providers_by_key or {}).get(f"{obj.metadata.namespace}/{obj.spec.provider_ref.name}")
        messages = [extension_keys.alert_problem(obj, provider), _cross_namespace(obj) if no_cross_namespace_refs else None]
    return [("ValidationFailed", message) for message in messages if message is not None]


def _cross_namespace(alert: Alert) -> str | None:
    for index, source in enumerate(alert.spec.event_sources):
        if source.namespace and source.namespace != alert.metadata.namespace:
            return (
                f"spec.eventSources[{index}].namespace: {source.namespace!r} is another namespace, "
                "refused under --no-cross-namespace-refs"
            )
    return None


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True)
class Report:
    """What `validate` prints (and `serve` at start-up): every object of every file, every
    error and warning, the problems of the input outside Providers/Alerts, a summary."""

    conditions: list[Condition]
    input_errors: list[str] = field(default_factory=list)  # unreadable file, bad YAML, bad Secret…

    def exit_code(self) -> int:
        """2: some input could not be used at all; 1: an object is not Ready; else 0."""
        if self.input_errors:
            return 2
        return 0 if all(c.ready for c in self.conditions if c.type == "Ready") else 1

    def summary(self) -> str:
        ready = [c for c in self.conditions if c.type == "Ready"]
        ok = sum(1 for c in ready if c.ready)
        text = (f"{_count(len(ready), 'object')}: {ok} Ready, {len(ready) - ok} not Ready, "
                f"{_count(sum(len(c.warnings) for c in ready), 'warning')}")
        if self.input_errors:
            text += f", {_count(len(self.input_errors), 'input error')}"
        return text

    def lines(self) -> list[str]:
        """One row per object, one more per further error and per warning; a file column first."""
        rows = []
        for c in self.conditions:
            head = (c.source or "-", c.kind, c.key)
            rows.append((*head, f"{c.type}={c.status}", f"{c.reason}: {(c.errors or (c.message,))[0]}"))
            rows += [(*head, f"{c.type}={c.status}", error) for error in c.errors[1:]]
            rows += [(*head, "warning", warning) for warning in c.warnings]
        widths = [max((len(row[i]) for row in rows), default=0) for i in range(4)]
        return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths + [0], strict=False)).rstrip()
                for row in rows]

    def as_json(self) -> list[dict]:
        return [{**c.as_dict(), "file": c.source, "errors": list(c.errors), "warnings": list(c.warnings)}
                for c in self.conditions]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def report(loaded: Loaded, no_cross_namespace_refs: bool = False) -> Report:
    """The Report of what ``read_manifests`` found: objects that could not be loaded are not
    Ready (and so are the Alerts of such a Provider); other errors are input errors."""
    broken = [e for e in loaded.errors if e.kind in ("Provider", "Alert") and e.key]
    found = conditions(loaded.objects, broken=[e.key for e in broken if e.kind == "Provider"],
                       no_cross_namespace_refs=no_cross_namespace_refs)
    for err in broken:
        message = str(err).removeprefix(f"{err.source}: {err.kind} {err.key}: ")
        found.append(Condition(err.kind, err.key, False, "ValidationFailed", message, err.source, errors=(message,)))
    order = {source: index for index, source in enumerate(loaded.sources)}
    found.sort(key=lambda c: order.get(c.source, len(order)))  # stable: file order, then object order
    return Report(found, [str(e) for e in loaded.errors if e not in broken])


def validate_files(paths: list[str], note=None, stdin=None, no_cross_namespace_refs: bool = False) -> Report:
    """`validate -f`: read every file (``-``: standard input) and report on all of it."""
    return report(read_manifests(paths, note, stdin=stdin), no_cross_namespace_refs)
