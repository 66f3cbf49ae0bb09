"""The per-provider path of one event, shared by the dispatcher and `fluxnotify render`.

raw event (prefixed metadata, cleaned at the door) + Alert + Provider
  → drop rules (spec §2.3) → combined metadata (§2.4 C) → options and Secrets (§3)
  → commit status id (§3.3) → the provider module's validation → a Prepared delivery.
The fluxnotify.io/* extensions (delivery/extensions.py) hook in after the drop rules
(reason and cluster filters, --no-cross-namespace-refs) and after the metadata merge
(the message template); digests and threads act when the delivery is made.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from types import ModuleType

from fluxnotify import providers
from fluxnotify.config.options import COMMIT_STATUS_TYPES, ConfigError, ProviderConfig, SecretLookup, resolve
from fluxnotify.delivery import extensions
from fluxnotify.delivery.annotations import AlertExtensions
from fluxnotify.delivery.configcache import PER_EVENT_CHECKS, ResolvedConfigs
from fluxnotify.delivery.routing import combine_metadata, commit_status_id, drop_reason
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Alert, Provider
from fluxnotify.providers.base import Skip

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    event: Event  # the provider's view: combined metadata with bare keys
    config: ProviderConfig
    module: ModuleType
    extensions: AlertExtensions = AlertExtensions()


def prepare(
    raw: Event,
    alert: Alert | None,
    provider: Provider,
    get_secret: SecretLookup,
    context: extensions.Context | None = None,
    configs: ResolvedConfigs | None = None,
) -> Prepared:
    """Raise Skip (a drop rule), ConfigError or the CEL error; else what to deliver.
    ``configs`` (the dispatcher's) resolves and checks each Provider once per snapshot."""
    context = context or extensions.Context()
    reason = drop_reason(raw, provider)
    if reason is not None:
        raise Skip(reason)
    ext = extensions.before_merge(raw, alert, context)
    event, conflicts = combine_metadata(raw, alert)
    if conflicts and alert is not None:
        logger.info(
            "metadata key conflicts detected (please refer to the Alert API docs and "
            "Flux RFC 0008 for more information)",
            extra={"alert": alert.metadata.key, "keys": conflicts},
        )
    if provider.spec.service_account_name:
        raise ConfigError(
            "spec.serviceAccountName is not supported: workload identity has no meaning "
            "outside Kubernetes; store static credentials in the Secret instead"
        )
    module = providers.get(provider.spec.type)
    config = configs.get(provider) if configs is not None else resolve(provider, get_secret)
    if provider.spec.type in COMMIT_STATUS_TYPES:
        config = replace(config, commit_status=commit_status_id(event, provider, alert))
    if alert is not None:
        config = replace(config, alert=(alert.metadata.namespace, alert.metadata.name, alert.metadata.effective_uid))
    event = extensions.after_merge(event, alert, provider, ext, context)
    if configs is None or provider.spec.type in PER_EVENT_CHECKS:
        module.validate(config)
    return Prepared(event, config, module, ext)

