"""Alert matching, metadata merge and the server-side drop rules (spec §2.2–2.5).

The door steps (clean-up, dedup key, token removal) live in event.py, so the
receiver does not import manifests or provider code.
"""

from __future__ import annotations

import re
from functools import lru_cache

from fluxnotify.model.event import EVENT_GROUP_PREFIX, Event
from fluxnotify.model.manifests import Alert, Provider
from fluxnotify.providers import CHANGE_REQUEST_TYPES, COMMIT_STATUS_TYPES, GENERIC_TYPES

# --- matching ---------------------------------------------------------------


def match_alerts(event: Event, alerts: list[Alert]) -> list[Alert]:
    """The Alerts that select this event, each at most once, in listing order."""
    return [alert for alert in alerts if mismatch(event, alert) is None]


def alert_matches(event: Event, alert: Alert) -> bool:
    return mismatch(event, alert) is None


_OBJECT, _SEVERITY, _LABELS, _MATCH = range(4)  # how far one event source gets


def mismatch(event: Event, alert: Alert) -> str | None:
    """The one Alert matcher (spec §2.2): None when the Alert selects the event, else why not,
    naming the rule (what `render` reports as ``skipped``)."""
    spec = alert.spec
    name = f"Alert {alert.metadata.key}"
    if spec.suspend:
        return f"{name} is suspended"
    furthest = max((_source_stage(event, alert, source) for source in spec.event_sources), default=_OBJECT)
    if furthest == _OBJECT:
        ref = event.involved_object
        sources = ", ".join(f"{s.kind}/{s.namespace or alert.metadata.namespace}/{s.name}" for s in spec.event_sources)
        return f"{name}: no event source matches {ref.kind}/{ref.namespace}/{ref.name} (sources: {sources})"
    if furthest == _SEVERITY:
        return f"{name}: eventSeverity {spec.event_severity or 'info'} does not select severity {event.severity!r}"
    if furthest == _LABELS:
        return f"{name}: sources with matchLabels never match (fluxnotify cannot read labels)"
    if spec.inclusion_list and not any(_search(p, event.message) for p in spec.inclusion_list):
        return f"{name}: the message matches no inclusionList pattern"
    excluded = next((p for p in spec.exclusion_list if _search(p, event.message)), None)
    if excluded is not None:
        return f"{name}: the message matches exclusionList pattern {excluded!r}"
    return None


def _source_stage(event: Event, alert: Alert, source) -> int:
    ref = event.involved_object
    namespace = source.namespace or alert.metadata.namespace
    # "*" (every namespace) is a fluxnotify extension; --no-cross-namespace-refs limits it
    # to the Alert's own namespace (delivery/stages/filters.py).
    if (namespace != "*" and ref.namespace != namespace) or ref.kind != source.kind:
        return _OBJECT
    if source.name != "*" and source.name != ref.name:
        return _OBJECT
    severity = alert.spec.event_severity or "info"
    if event.severity != severity and severity != "info":
        return _SEVERITY
    # Labels need the Kubernetes API, which fluxnotify cannot read.
    return _LABELS if source.match_labels is not None else _MATCH


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str):
    """The pattern compiled as Go's RE2 would accept it, or None (spec §2.2 steps 3–4)."""
    compiled, _ = _compile(pattern)
    return compiled


def pattern_error(pattern: str) -> str | None:
    """Why RE2 refuses the pattern (one line), or None when it compiles."""
    return _compile(pattern)[1]


@lru_cache(maxsize=1024)
def _compile(pattern: str):
    """google-re2 (a dependency of cel-python) gives RE2's exact syntax, so lookarounds and
    backreferences are refused as in Flux; it is imported only when a pattern is used.
    Its C++ side would log each refusal to stderr: ``log_errors`` off keeps it quiet.
    """
    try:
        import re2
    except ImportError:  # pragma: no cover - fallback keeps working without the package
        re2 = None
    try:
        if re2 is None:
            return re.compile(pattern), None
        options = re2.Options()
        options.log_errors = False
        return re2.compile(pattern, options=options), None
    except Exception as err:  # re.error / re2.error: not a valid pattern
        detail = err.args[0] if err.args else err
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return None, " ".join(str(detail).split())


def _search(pattern: str, message: str) -> bool:
    compiled = compile_pattern(pattern)
    return compiled is not None and compiled.search(message) is not None


# --- per-alert dispatch -------------------------------------------------------


def is_commit_status_update(event: Event) -> bool:
    return event.metadata.get(f"{event.group}/commit_status") == "update"


def drop_reason(event: Event, provider: Provider) -> str | None:
    """Spec §2.3 steps 3–6 on the raw (prefixed) event; None when the provider gets it."""
    provider_type = provider.spec.type
    if provider.spec.suspend:
        return "provider is suspended"
    if (
        provider_type not in COMMIT_STATUS_TYPES
        and provider_type not in GENERIC_TYPES
        and is_commit_status_update(event)
    ):
        return "commit status update events are only sent to git and generic providers"
    if (
        provider_type in COMMIT_STATUS_TYPES
        and not event.metadata.get(EVENT_GROUP_PREFIX + "commit")
        and not is_commit_status_update(event)
        and event.severity != "error"
    ):
        return "event dropped for commit status providers due to missing commit metadata key"
    if provider_type in CHANGE_REQUEST_TYPES and not event.metadata.get(
        EVENT_GROUP_PREFIX + "change_request"
    ):
        return "event dropped for change request providers due to missing change_request key"
    return None


def combine_metadata(event: Event, alert: Alert | None) -> tuple[Event, list[str]]:
    """Step C: the provider's view of the event, and the keys set by several sources.

    ``alert`` is None when render shows a Provider no Alert references. Alerts that add no
    metadata of their own share one view of an event (so its Go-JSON is encoded once).
    """
    plain = alert is None or not (alert.spec.event_metadata or alert.spec.summary)
    if plain and (view := event.__dict__.get("_plain_view")) is not None:
        return view[0], list(view[1])
    result = _combine(event, alert)
    if plain:
        object.__setattr__(event, "_plain_view", result)  # the event is frozen; this is a cache
    return result


def _combine(event: Event, alert: Alert | None) -> tuple[Event, list[str]]:
    group_prefix = event.group + "/"
    layers = [
        _strip_prefix(event.metadata, EVENT_GROUP_PREFIX),
        dict(alert.spec.event_metadata) if alert else {},
        {"summary": alert.spec.summary} if alert and alert.spec.summary else {},
        _strip_prefix(event.metadata, group_prefix),
    ]
    combined: dict[str, str] = {}
    seen: dict[str, int] = {}
    for layer in layers:
        for key, value in layer.items():
            combined[key] = value
            seen[key] = seen.get(key, 0) + 1
    conflicts = sorted(key for key, count in seen.items() if count > 1)
    if not combined:
        return event, conflicts
    return event.with_metadata(combined), conflicts


def _strip_prefix(metadata: dict[str, str], prefix: str) -> dict[str, str]:
    return {k[len(prefix) :]: v for k, v in metadata.items() if k.startswith(prefix)}


def default_commit_status(event: Event, provider_uid: str) -> str:
    """Spec §3.3 default: lower(kind/name/<uid up to its first '-'>)."""
    ref = event.involved_object
    return f"{ref.kind}/{ref.name}/{provider_uid.split('-', 1)[0]}".lower()


def commit_status_id(event: Event, provider: Provider, alert: Alert | None) -> str:
    """The CommitStatus option: commitStatusExpr when set (CEL), else the default."""
    expression = provider.spec.commit_status_expr
    if not expression:
        return default_commit_status(event, provider.metadata.effective_uid)
    from fluxnotify.delivery import celexpr  # imported only when an expression is used

    return celexpr.commit_status(expression, event, provider, alert)
