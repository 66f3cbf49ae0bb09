"""Provider options resolved (Secrets applied, spec §3.2) and checked once per config snapshot.

Resolving reads Secrets and parses headers, proxy and TLS material; validating runs the
provider's URL checks. Neither changes until the configuration does, so the dispatcher
does both once per Provider object and store ``generation`` (AwsStore bumps it on every
new snapshot or secret refresh; a FileStore never changes) instead of once per delivery.
Commit-status and change-request types are validated per delivery: their checks may
use the per-event commit status id or the Alert. A config error is remembered too; a failed Secret read is not.

The config an Alert's deliveries use (the Provider's, naming the Alert) is kept the same way,
per Alert × Provider object and ``generation``: a delivery no longer copies it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fluxnotify import providers
from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.manifests import Alert, Provider


def naming(config: ProviderConfig, alert: Alert) -> ProviderConfig:
    """The config as an Alert's deliveries use it: naming the Alert (ProviderConfig.alert)."""
    meta = alert.metadata
    return replace(config, alert=(meta.namespace, meta.name, meta.effective_uid))


class ResolvedConfigs:
    def __init__(self, store: Any):
        self.store = store
        self._generation: object = None
        self._entries: dict[int, tuple[Provider, ProviderConfig | ConfigError]] = {}
        self._per_alert: dict[tuple[int, int], tuple[Provider, Alert, ProviderConfig]] = {}

    def for_alert(self, provider: Provider, alert: Alert) -> ProviderConfig:
        """The Provider's config naming the Alert (ProviderConfig.alert), as ``get`` keeps it."""
        config = self.get(provider)  # first: it forgets everything of an older generation
        key = (id(provider), id(alert))
        entry = self._per_alert.get(key)
        if entry is None or entry[0] is not provider or entry[1] is not alert:  # ids are reused
            entry = self._per_alert[key] = (provider, alert, naming(config, alert))
        return entry[2]

    def get(self, provider: Provider) -> ProviderConfig:
        generation = getattr(self.store, "generation", 0)
        if generation != self._generation:
            self._entries, self._per_alert, self._generation = {}, {}, generation
        entry = self._entries.get(id(provider))
        if entry is None or entry[0] is not provider:  # keyed by identity: a new snapshot has new objects
            entry = (provider, self._resolve(provider))
            self._entries[id(provider)] = entry
        if isinstance(entry[1], ConfigError):
            raise ConfigError(str(entry[1]))
        return entry[1]

    def _resolve(self, provider: Provider) -> ProviderConfig | ConfigError:
        try:
            caps = providers.capabilities(provider.spec.type)
            config = providers.resolve(provider, self.store.secret)
            if not caps.per_event_checks:
                providers.get(provider.spec.type).validate(config)
            return config
        except ConfigError as err:
            return err
