"""Why an Alert does not select an event, in words (what `render` reports as `skipped`).

Mirrors routing.alert_matches rule by rule (spec §2.2); ``why_not`` returns None exactly
when alert_matches is True.
"""

from __future__ import annotations

from fluxnotify.delivery.routing import _search, alert_matches
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Alert


def why_not(event: Event, alert: Alert) -> str | None:
    if alert_matches(event, alert):
        return None
    spec = alert.spec
    name = f"Alert {alert.metadata.key}"
    ref = event.involved_object
    if spec.suspend:
        return f"{name} is suspended"
    if not _any_source(event, alert):
        sources = ", ".join(
            f"{s.kind}/{s.namespace or alert.metadata.namespace}/{s.name}" for s in spec.event_sources
        )
        return f"{name}: no event source matches {ref.kind}/{ref.namespace}/{ref.name} (sources: {sources})"
    severity = spec.event_severity or "info"
    if not _any_source(event, alert, check_severity=True):
        return f"{name}: eventSeverity {severity} does not select severity {event.severity!r}"
    if any(s.match_labels is not None for s in spec.event_sources) and not _any_source(
        event, alert, check_severity=True, check_labels=True
    ):
        return f"{name}: sources with matchLabels never match (fluxnotify cannot read labels)"
    if spec.inclusion_list and not any(_search(p, event.message) for p in spec.inclusion_list):
        return f"{name}: the message matches no inclusionList pattern"
    excluded = next((p for p in spec.exclusion_list if _search(p, event.message)), None)
    if excluded is not None:
        return f"{name}: the message matches exclusionList pattern {excluded!r}"
    return f"{name} does not match the event"


def _any_source(event: Event, alert: Alert, check_severity: bool = False, check_labels: bool = False) -> bool:
    ref = event.involved_object
    severity = alert.spec.event_severity or "info"
    for source in alert.spec.event_sources:
        namespace = source.namespace or alert.metadata.namespace
        if ref.namespace != namespace or ref.kind != source.kind:
            continue
        if source.name != "*" and source.name != ref.name:
            continue
        if check_severity and event.severity != severity and severity != "info":
            continue
        if check_labels and source.match_labels is not None:
            continue
        return True
    return False
