"""What the planner produces and every stage reads: ``Planned`` (one Alert × Provider) and
``Context`` (what a plan knows beyond event, Alert and Provider), and the ``Stage`` interface.

A plan item's ``outcome`` says what the executor will do with it (errors.Outcome):
DELIVERED — send ``event`` with ``config`` (``reply``: as a Slack thread reply); SKIPPED —
``detail`` is the rule; GATHERED — put it into the digest window ``detail`` names; DEAD — a
missing Provider, a refused config, an event the provider cannot encode (``detail``, the
error in ``error``); RETRY — an unexpected error (a bug or a failed Secret read).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from fluxnotify.config.options import ProviderConfig
from fluxnotify.delivery.annotations import DEFAULT_CLUSTER, AlertExtensions, cluster_name
from fluxnotify.errors import Outcome
from fluxnotify.metrics import Metrics
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Alert, Provider
from fluxnotify.state.incidents import IncidentStore, Step
from fluxnotify.state.onchange import OnChangeStore
from fluxnotify.state.silences import SilenceSource

NO_EXTENSIONS = AlertExtensions()


@dataclass(frozen=True)
class Context:
    cluster: str = DEFAULT_CLUSTER  # the cluster the event came from (render --cluster)
    no_cross_namespace_refs: bool = False
    metrics: Metrics | None = None
    digest: bool = False  # the event is a digest: filters and template were applied per event
    incidents: IncidentStore | None = None  # stage resolve; None: render without state
    silences: SilenceSource | None = None  # the active silences (a cached view: no read per event)
    # on-change (delivery/stages/onchange.py): its store (None: render, no stored state), the
    # message deciding, whether it is a retry or replay (decided before), and render's read-only look
    onchange: OnChangeStore | None = None
    message_id: str = ""
    retry: bool = False
    preview: bool = False

    @property
    def cluster_name(self) -> str:
        """What templates see: the name, or "" for the unnamed cluster."""
        return cluster_name(self.cluster)


@dataclass
class Planned:
    alert: Alert | None  # None: render previews a Provider no Alert references
    provider_key: str  # namespace/name, also when the Provider is missing
    provider: Provider | None = None
    raw: Event | None = None  # the event as queued (prefixed metadata)
    outcome: Outcome = Outcome.DELIVERED
    detail: str = ""
    event: Event | None = None  # the provider's view: merged metadata, templated message
    config: ProviderConfig | None = None
    module: ModuleType | None = None
    ext: AlertExtensions = NO_EXTENSIONS  # frozen: one shared default, not one built per plan item
    template_error: str | None = None  # the template failed: the original message is sent
    reply: bool = False  # thread stage: post through the thread store
    error: BaseException | None = None
    routed: bool = True  # False: the Alert does not select the event (``detail`` says why)
    incident: Step | None = None  # stage resolve: opens or resolves an incident

    @property
    def target(self) -> str:
        return self.alert.metadata.key if self.alert is not None else ""

    @property
    def provider_type(self) -> str:
        return self.provider.spec.type if self.provider is not None else ""

    def but(self, **changes: Any) -> Planned:
        """A copy with ``changes``: dataclasses.replace without its per-field work (this
        class has no __post_init__ and no init-only fields), as it runs for every delivery."""
        copy = object.__new__(Planned)
        copy.__dict__.update(self.__dict__, **changes)
        return copy

    def ends(self, outcome: Outcome, detail: str, error: BaseException | None = None) -> Planned:
        return self.but(outcome=outcome, detail=detail, error=error)

    def requests(self) -> list[Any]:
        """What would be sent (render): the provider module's pure encode."""
        if self.outcome != Outcome.DELIVERED or self.module is None:
            return []
        if self.incident is not None and self.incident.resolves:
            return list(self.module.encode_resolve(self.event, self.config, list(self.incident.resolves)))
        return list(self.module.encode(self.event, self.config))


class Stage(Protocol):
    """One extension of the delivery path (delivery/stages/*.py), run by the planner in a fixed
    order. ``run`` returns the item unchanged, rewritten (event, reply) or ended (skipped,
    gathered); it may raise errors.Skip or config.options.ConfigError. A stage reads state only
    through state/ and never sends anything."""

    name: str

    def run(self, item: Planned, ctx: Context) -> Planned: ...
