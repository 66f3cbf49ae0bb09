"""Stage ``silences``: an event a silence matches is skipped, with the silence's id, end and
comment as the rule (`fluxnotify silence add`, state/silences.py).

Runs after the filters (an event an Alert keeps out anyway is not "silenced") and before
on-change and the template, on the raw event: its involved object's kind, namespace and
name, its reason, and the cluster it came from. A digest is not silenced again: its events
were, one by one. The active silences come from ``Context.silences`` (the dispatcher's
cached view: no store read per event; render: the silences of ``--db``).
"""

from __future__ import annotations

from fluxnotify.delivery.annotations import glob_matches
from fluxnotify.delivery.plan import Context, Planned
from fluxnotify.errors import Skip
from fluxnotify.model.event import Event
from fluxnotify.state.silences import Silence
from fluxnotify.state.status import iso


def matches(silence: Silence, event: Event, cluster: str) -> bool:
    ref = event.involved_object
    values = {"kind": ref.kind, "namespace": ref.namespace, "name": ref.name, "reason": event.reason}
    if silence.cluster and not glob_matches(cluster, [silence.cluster]):
        return False
    return all(glob_matches(values[key], [pattern]) for key, pattern in silence.matchers)


def rule(silence: Silence) -> str:
    text = f"silenced by {silence.id} until {iso(silence.ends_at)}"
    return f"{text}: {silence.comment}" if silence.comment else text


def silencing(silences: list[Silence], event: Event, cluster: str) -> Silence | None:
    """The silence that mutes the event (the one ending last), or None."""
    found = [s for s in silences if matches(s, event, cluster)]
    return max(found, key=lambda s: s.ends_at) if found else None


class SilenceStage:
    name = "silences"

    def run(self, item: Planned, ctx: Context) -> Planned:
        if ctx.digest or ctx.silences is None or item.raw is None:
            return item
        silence = silencing(ctx.silences.active(), item.raw, ctx.cluster)
        if silence is not None:
            raise Skip(rule(silence))
        return item
