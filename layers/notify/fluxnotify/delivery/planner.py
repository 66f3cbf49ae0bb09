"""The one planner: what should happen to an event, for every Alert and its Provider.

``plan(event, alerts, lookup, ctx)`` decides, without sending anything, for every Alert
(delivery/plan.py ``Planned``): deliver (the provider's view of the event and its config,
whose pure ``encode`` gives the requests), skip (the rule, in Flux's words where Flux has
them), gather (digest), or an error (missing Provider, refused config, unencodable event).
`render` prints a plan, the dispatcher executes one (delivery/executor.py), so they cannot
disagree. Per Alert × Provider, in order:

  routing.mismatch (the one matcher) → Provider lookup and type → drop rules (spec §2.3)
  → stage filters → stage silences → metadata merge (§2.4 C) → options and Secrets (§3) → commit status id
  → stage on-change → stage template → the provider's validation → stage digest → stage thread
  → stage resolve.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from fluxnotify import providers
from fluxnotify.config.options import ConfigError, ProviderConfig, SecretLookup
from fluxnotify.delivery.configcache import ResolvedConfigs, naming
from fluxnotify.delivery.plan import Context, Planned, Stage
from fluxnotify.delivery.routing import combine_metadata, commit_status_id, drop_reason, mismatch
from fluxnotify.delivery.stages.digests import DigestStage
from fluxnotify.delivery.stages.filters import Filters
from fluxnotify.delivery.stages.onchange import OnChangeStage
from fluxnotify.delivery.stages.resolve import ResolveStage
from fluxnotify.delivery.stages.silences import SilenceStage
from fluxnotify.delivery.stages.templates import TemplateStage
from fluxnotify.delivery.stages.threads import ThreadStage
from fluxnotify.errors import Outcome, classify
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Alert, Provider

logger = logging.getLogger(__name__)

ProviderLookup = Callable[[str, str], "Provider | None"]

# The fixed order: filters → silences → on-change → template → digest → thread → resolve.
FILTERS: tuple[Stage, ...] = (Filters(), SilenceStage())
AFTER_MERGE: tuple[Stage, ...] = (OnChangeStage(), TemplateStage())
LAST: tuple[Stage, ...] = (DigestStage(), ThreadStage(), ResolveStage())


class Planner:
    def __init__(self, get_provider: ProviderLookup, get_secret: SecretLookup, configs: ResolvedConfigs | None = None):
        self.get_provider = get_provider
        self.get_secret = get_secret
        self.configs = configs  # the dispatcher's cache; render resolves each time

    def plan(self, event: Event, alerts: list[Alert], ctx: Context) -> list[Planned]:
        """One item per Alert in order: those that do not select the event are skipped with
        ``routed`` False and the matcher's reason."""
        items = []
        for alert in alerts:
            reason = mismatch(event, alert)
            key = f"{alert.metadata.namespace}/{alert.spec.provider_ref.name}"
            if reason is not None:
                items.append(Planned(alert, key, raw=event, outcome=Outcome.SKIPPED, detail=reason, routed=False))
            else:
                items.append(self.plan_alert(event, alert, ctx))
        return items

    def plan_alert(self, event: Event, alert: Alert, ctx: Context) -> Planned:
        ns, name = alert.metadata.namespace, alert.spec.provider_ref.name
        provider = self.get_provider(ns, name)
        if provider is None:
            error = ConfigError(f"failed to read provider: Provider '{ns}/{name}' not found")
            return Planned(alert, f"{ns}/{name}", raw=event, outcome=Outcome.DEAD, detail=str(error), error=error)
        return self.plan_one(event, alert, provider, ctx)

    def plan_one(self, event: Event, alert: Alert | None, provider: Provider, ctx: Context) -> Planned:
        """The plan of one Provider (``alert`` None: as if an Alert had routed the event to it)."""
        item = Planned(alert, provider.metadata.key, provider, raw=event)
        try:
            return self._plan(item, ctx)
        except Exception as err:  # errors.py: skip, permanent, or (a bug, a failed read) retry
            outcome, detail, _ = classify(err)
            return item.ends(outcome, detail, err)

    def _plan(self, item: Planned, ctx: Context) -> Planned:
        raw, alert, provider = item.raw, item.alert, item.provider
        assert raw is not None and provider is not None
        module = providers.get(provider.spec.type)  # an unsupported type is an error before any rule
        reason = drop_reason(raw, provider)
        if reason is not None:
            return item.ends(Outcome.SKIPPED, reason)
        item = _run(FILTERS, item, ctx)
        event, conflicts = combine_metadata(raw, alert)
        if conflicts and alert is not None:
            logger.info("metadata key conflicts detected (please refer to the Alert API docs and "
                        "Flux RFC 0008 for more information)", extra={"alert": alert.metadata.key, "keys": conflicts})
        if provider.spec.service_account_name:
            raise ConfigError("spec.serviceAccountName is not supported: workload identity has no meaning "
                              "outside Kubernetes; store static credentials in the Secret instead")
        item = item.but(event=event, module=module, config=self._config(provider, event, alert))
        item = _run(AFTER_MERGE, item, ctx)
        if self.configs is None or providers.capabilities(provider.spec.type).per_event_checks:
            module.validate(item.config)
        return _run(LAST, item, ctx)

    def _config(self, provider: Provider, event: Event, alert: Alert | None) -> ProviderConfig:
        caps = providers.capabilities(provider.spec.type)
        if self.configs is not None and alert is not None:
            config = self.configs.for_alert(provider, alert)  # kept per Alert: no copy per delivery
        else:
            config = self.configs.get(provider) if self.configs is not None else providers.resolve(provider,
                                                                                                  self.get_secret)
            if alert is not None:
                config = naming(config, alert)
        if caps.commit_status:
            config = replace(config, commit_status=commit_status_id(event, provider, alert))
        return config


_DELIVER = Outcome.DELIVERED  # a module constant: an Enum's attribute costs a lookup per stage


def _run(stages: tuple[Stage, ...], item: Planned, ctx: Context) -> Planned:
    for stage in stages:
        if item.outcome != _DELIVER:
            break
        item = stage.run(item, ctx)
    return item
