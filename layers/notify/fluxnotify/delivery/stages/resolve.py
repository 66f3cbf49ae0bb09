"""Stage ``resolve``: recovery resolves what an error opened (Provider ``fluxnotify.io/resolve: "true"``).

For a Provider of a type that resolves with state (``providers.TYPES`` ``resolve="state"``:
opsgenie, alertmanager), per (Provider, Alert, cluster, object):

* an error is sent as usual and, once delivered, the incident it opened is remembered (the
  module's ``incident(event, cfg)``: the Opsgenie alias, the Alertmanager labels);
* the next non-error event of that object, when incidents are open, is sent as their resolve
  form instead (the module's ``encode_resolve``: close by alias, the alerts with ``endsAt``)
  and the marker is cleared once that succeeded;
* a non-error event with nothing open goes as today.

PagerDuty and incident.io resolve natively (``resolve="native"``: every non-error event
resolves the object's dedup key), so no state is kept for them. Off by default: without the
annotation nothing is read or written and the bytes are notification-controller's.

State: state/incidents.py. A failed marker write is logged and the delivery stands (that
incident is then not resolved by fluxnotify, as without the annotation); a failed read fails
the plan (retried). A digest opens and resolves nothing (its events were planned one by one).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from fluxnotify import providers
from fluxnotify.config.options import ProviderConfig
from fluxnotify.delivery.annotations import resolves
from fluxnotify.delivery.plan import Context, Planned
from fluxnotify.providers.base import send_all
from fluxnotify.state.incidents import IncidentStore, Step
from fluxnotify.transport.http import Transport

logger = logging.getLogger(__name__)


def incident_key(item: Planned, cluster: str) -> str:
    assert item.raw is not None
    ref = item.raw.involved_object
    return f"{item.provider_key}#{item.target or '-'}#{cluster}#{ref.kind}/{ref.namespace}/{ref.name}"


class ResolveStage:
    name = "resolve"

    def run(self, item: Planned, ctx: Context) -> Planned:
        provider, event = item.provider, item.event
        if ctx.digest or provider is None or event is None or item.module is None or not resolves(provider):
            return item
        key = incident_key(item, ctx.cluster)
        ref = event.involved_object
        name = f"{ref.kind}/{ref.namespace}/{ref.name}"
        if event.severity == "error":
            entry_id, entry = item.module.incident(event, item.config)
            return replace(item, incident=Step(key, entry_id, opens=entry,
                                               note=f"opens an incident the next non-error event of {name} resolves"))
        if ctx.incidents is None:  # render without --db: no state to read
            return replace(item, incident=Step(key, note=f"would resolve the incidents open for {name}, if any "
                                                         "(render reads them only with --db); else sent as shown"))
        opened = ctx.incidents.opened(key)
        if not opened:
            return item
        return replace(item, incident=Step(key, resolves=tuple(opened),
                                           note=f"resolves {len(opened)} open incident(s) of {name} instead"))


def deliver(store: IncidentStore, item: Planned, cfg: ProviderConfig, transport: Transport) -> None:
    """Send the item (its resolve form when it resolves), then keep or clear the marker."""
    step, event = item.incident, item.event
    assert step is not None and event is not None and item.module is not None
    if step.resolves:
        send_all(item.module.encode_resolve(event, cfg, list(step.resolves)), cfg, transport)
        _write(store.clear, step.key)
        return
    providers.deliver(event, cfg, transport)
    if step.opens is not None:
        _write(store.open, step.key, step.entry_id, step.opens)


def _write(action, *args) -> None:
    try:
        if action(*args) is False:
            logger.warning("incident too large to keep: recovery will not resolve it", extra={"incident": args[0]})
    except Exception as err:  # the delivery happened; only its later resolve is lost
        logger.warning("incident state write failed", extra={"incident": args[0], "error": repr(err)[:300]})
