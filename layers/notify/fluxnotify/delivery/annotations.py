"""The `fluxnotify.io/*` annotations of Alerts and Providers: parsing, checking, filters.

Extensions notification-controller lacks are configured by annotations, so manifests stay
valid Flux objects (docs/extensions.md):

* Alert ``fluxnotify.io/message``: a Jinja2 message template (delivery/stages/templates.py);
* Alert ``fluxnotify.io/digest`` (Go duration) and ``fluxnotify.io/min-events`` (N ≥ 1);
* Alert ``fluxnotify.io/reasons`` / ``fluxnotify.io/exclude-reasons``: comma-separated
  reasons, exact and case-sensitive, ``*`` as a glob;
* Alert ``fluxnotify.io/actions`` / ``fluxnotify.io/exclude-actions``: the same for the
  Event API v1 ``action`` (an event without one has the action "");
* Alert ``fluxnotify.io/clusters``: comma-separated cluster-name globs;
* Alert ``fluxnotify.io/notify: on-change``, ``fluxnotify.io/renotify`` (Go duration) and
  ``fluxnotify.io/after`` (N ≥ 1): notify on a change of state only (delivery/stages/onchange.py);
* Provider ``fluxnotify.io/thread: object`` (slack on chat.postMessage): replies in threads;
* Provider ``fluxnotify.io/resolve: "true"`` (incident types): recovery resolves the incident
  an error opened (delivery/stages/resolve.py).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from fluxnotify.model.duration import go_duration
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Alert, Provider
from fluxnotify.providers import capabilities

PREFIX = "fluxnotify.io/"
MESSAGE = PREFIX + "message"
DIGEST = PREFIX + "digest"
MIN_EVENTS = PREFIX + "min-events"
REASONS = PREFIX + "reasons"
EXCLUDE_REASONS = PREFIX + "exclude-reasons"
CLUSTERS = PREFIX + "clusters"
ACTIONS = PREFIX + "actions"
EXCLUDE_ACTIONS = PREFIX + "exclude-actions"
RESOLVE = PREFIX + "resolve"
THREAD = PREFIX + "thread"
THREAD_TTL = PREFIX + "thread-ttl"
NOTIFY = PREFIX + "notify"
RENOTIFY = PREFIX + "renotify"
AFTER = PREFIX + "after"
ON_CHANGE = "on-change"  # the one value of NOTIFY
ALERT_KEYS = (MESSAGE, DIGEST, MIN_EVENTS, REASONS, EXCLUDE_REASONS, ACTIONS, EXCLUDE_ACTIONS, CLUSTERS,
              NOTIFY, RENOTIFY, AFTER)
PROVIDER_KEYS = (THREAD, THREAD_TTL, RESOLVE)
_LISTS = (REASONS, EXCLUDE_REASONS, ACTIONS, EXCLUDE_ACTIONS, CLUSTERS)
DEFAULT_CLUSTER = "default"  # queue/messages.py: an unnamed cluster


class AnnotationError(ValueError):
    """An annotation that cannot be used; the message names it."""


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def glob_matches(value: str, patterns: list[str]) -> bool:
    """Exact and case-sensitive; ``*`` is the only special character."""
    return any(fnmatch.fnmatchcase(value, _literal_but_star(pattern)) for pattern in patterns)


def _literal_but_star(pattern: str) -> str:
    return "".join(c if c == "*" else f"[{c}]" if c in "[?" else c for c in pattern)


@dataclass(frozen=True)
class AlertExtensions:
    template: str | None = None
    digest_seconds: float | None = None
    digest_text: str = ""
    min_events: int | None = None
    reasons: tuple[str, ...] = ()
    exclude_reasons: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    exclude_actions: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()
    on_change: bool = False  # fluxnotify.io/notify: on-change
    renotify_seconds: float | None = None
    renotify_text: str = ""
    after: int | None = None  # notify an error from the Nth failure in a row on

    @property
    def tracks_state(self) -> bool:
        """The Alert keeps a state per object (delivery/stages/onchange.py)."""
        return self.on_change or self.after is not None


def alert_extensions(alert: Alert | None) -> AlertExtensions:
    """The Alert's extensions; raise AnnotationError for an unusable annotation. Parsed once
    per Alert object (kept on it: a new configuration snapshot has new objects)."""
    if alert is None:
        return AlertExtensions()
    parsed = alert.__dict__.get("_extensions")
    if parsed is None:
        try:
            parsed = _alert_extensions(alert)
        except AnnotationError as err:
            parsed = err
        object.__setattr__(alert, "_extensions", parsed)  # frozen: a cache, not state
    if isinstance(parsed, AnnotationError):
        raise AnnotationError(str(parsed))
    return parsed


def _alert_extensions(alert: Alert) -> AlertExtensions:
    notes = alert.metadata.annotations
    digest_seconds, min_events = None, None
    if DIGEST in notes:
        try:
            digest_seconds = go_duration(notes[DIGEST])
        except ValueError:
            raise AnnotationError(
                f"{DIGEST}: {notes[DIGEST]!r} is not a duration (Go syntax, e.g. 90s, 5m, 1h)"
            ) from None
        if digest_seconds < 1:
            raise AnnotationError(f"{DIGEST}: {notes[DIGEST]!r} is shorter than one second")
    if MIN_EVENTS in notes:
        text = notes[MIN_EVENTS].strip()
        if not text.isdigit() or int(text) < 1:
            raise AnnotationError(f"{MIN_EVENTS}: {notes[MIN_EVENTS]!r} must be a whole number ≥ 1")
        if digest_seconds is None:
            raise AnnotationError(f"{MIN_EVENTS} needs {DIGEST}: events are counted in a digest window")
        min_events = int(text)
    on_change, renotify, after = _notify_rules(notes)
    return AlertExtensions(
        template=notes.get(MESSAGE),
        digest_seconds=digest_seconds,
        digest_text=notes.get(DIGEST, ""),
        min_events=min_events,
        reasons=tuple(split_list(notes.get(REASONS, ""))) if REASONS in notes else (),
        exclude_reasons=tuple(split_list(notes.get(EXCLUDE_REASONS, ""))),
        actions=tuple(split_list(notes.get(ACTIONS, ""))),
        exclude_actions=tuple(split_list(notes.get(EXCLUDE_ACTIONS, ""))),
        clusters=tuple(split_list(notes.get(CLUSTERS, ""))) if CLUSTERS in notes else (),
        on_change=on_change,
        renotify_seconds=renotify,
        renotify_text=notes.get(RENOTIFY, "").strip(),
        after=after,
    )


def _notify_rules(notes: dict[str, str]) -> tuple[bool, float | None, int | None]:
    """notify, renotify and after; AnnotationError names a bad one."""
    on_change, renotify, after = False, None, None
    if NOTIFY in notes:
        if notes[NOTIFY].strip() != ON_CHANGE:
            raise AnnotationError(f"{NOTIFY}: {notes[NOTIFY]!r} is not supported (expected '{ON_CHANGE}')")
        on_change = True
    if RENOTIFY in notes:
        try:
            renotify = go_duration(notes[RENOTIFY])
        except ValueError:
            raise AnnotationError(
                f"{RENOTIFY}: {notes[RENOTIFY]!r} is not a duration (Go syntax, e.g. 30m, 4h)") from None
        if renotify < 1:
            raise AnnotationError(f"{RENOTIFY}: {notes[RENOTIFY]!r} is shorter than one second")
        if not on_change:
            raise AnnotationError(f"{RENOTIFY} needs {NOTIFY}: {ON_CHANGE}: it reminds of an unchanged error")
    if AFTER in notes:
        text = notes[AFTER].strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 9) or int(text) < 1:
            raise AnnotationError(f"{AFTER}: {notes[AFTER]!r} must be a whole number from 1 to 999999999")
        after = int(text)
    return on_change, renotify, after


def skip_rule(ext: AlertExtensions, event: Event, cluster: str) -> str | None:
    """The rule that keeps this event from the Alert (reasons, actions, clusters), or None."""
    for key, exclude, value, patterns in (
        (REASONS, False, event.reason, ext.reasons),
        (EXCLUDE_REASONS, True, event.reason, ext.exclude_reasons),
        (ACTIONS, False, event.action, ext.actions),
        (EXCLUDE_ACTIONS, True, event.action, ext.exclude_actions),
    ):
        if patterns and glob_matches(value, list(patterns)) == exclude:
            what = "reason" if key in (REASONS, EXCLUDE_REASONS) else "action"
            if exclude:
                return f"{key}: {what} {value!r} is excluded ({', '.join(patterns)})"
            return f"{key}: {what} {value!r} is not one of {', '.join(patterns)}"
    if ext.clusters and not glob_matches(cluster, list(ext.clusters)):
        return f"{CLUSTERS}: cluster {cluster!r} is not one of {', '.join(ext.clusters)}"
    return None


def cluster_name(cluster: str) -> str:
    """What templates see: the name, or "" for the unnamed cluster."""
    return "" if cluster in ("", DEFAULT_CLUSTER) else cluster


def threads_by_object(provider: Provider) -> bool:
    return provider.metadata.annotations.get(THREAD) == "object"


def thread_ttl_seconds(provider: Provider, default: float) -> float:
    text = provider.metadata.annotations.get(THREAD_TTL)
    if not text:
        return default
    try:
        return go_duration(text)
    except ValueError:
        return default


def provider_problem(provider: Provider) -> str | None:
    """validate: what is wrong with a Provider's annotations, or None."""
    notes = provider.metadata.annotations
    if THREAD in notes:
        if notes[THREAD] != "object":
            return f"{THREAD}: {notes[THREAD]!r} is not supported (expected 'object')"
        if provider.spec.type != "slack":
            return f"{THREAD}: threads are only supported by slack Providers, not {provider.spec.type}"
    if THREAD_TTL in notes:
        try:
            go_duration(notes[THREAD_TTL])
        except ValueError:
            return f"{THREAD_TTL}: {notes[THREAD_TTL]!r} is not a duration (Go syntax, e.g. 24h)"
    if RESOLVE in notes:
        return resolve_problem(provider)
    return None


def resolves(provider: Provider) -> bool:
    """``fluxnotify.io/resolve: "true"`` on a type that resolves with state (opsgenie, alertmanager)."""
    return (provider.metadata.annotations.get(RESOLVE, "").lower() == "true"
            and capabilities(provider.spec.type).resolve == "state")


def resolve_problem(provider: Provider) -> str | None:
    """validate: the value, and whether the type can resolve (docs/providers/<type>.md)."""
    value, kind = provider.metadata.annotations[RESOLVE], provider.spec.type
    if value.lower() not in ("true", "false"):
        return f"{RESOLVE}: {value!r} must be \"true\" or \"false\""
    if value.lower() == "true" and not capabilities(kind).resolve:
        return f"{RESOLVE}: {kind} Providers cannot resolve what an error opened (docs/providers/{kind}.md)"
    return None


def alert_problem(alert: Alert, provider: Provider | None) -> str | None:
    """validate: what is wrong with an Alert's annotations, or None (template syntax included)."""
    try:
        ext = alert_extensions(alert)
    except AnnotationError as err:
        return str(err)
    for key in _LISTS:
        if key in alert.metadata.annotations and not split_list(alert.metadata.annotations[key]):
            return f"{key}: empty list"
    if ext.template is not None:
        from fluxnotify.delivery.stages.templates import syntax_error

        error = syntax_error(ext.template)
        if error is not None:
            return f"{MESSAGE}: {error}"
    if provider is not None:
        kind = provider.spec.type
        if ext.digest_seconds is not None and capabilities(kind).per_event_checks:
            return f"{DIGEST}: digests are not supported for {kind} Providers (commit statuses and comments)"
        if ext.tracks_state and capabilities(kind).per_event_checks:  # a state per revision, not per object
            name = NOTIFY if ext.on_change else AFTER
            return f"{name}: not supported for {kind} Providers (commit statuses and comments are per revision)"
    return None
