"""Provider registry: Flux's `type` string → the module that implements it.

Modules are imported on first use, so a dispatcher that only ever talks to
Slack never imports the Event Hubs SDK or the CEL library.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from fluxnotify.config import options
from fluxnotify.config.hints import nearest
from fluxnotify.config.options import ConfigError, ProviderConfig, SecretLookup
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Provider
from fluxnotify.providers.base import send_all
from fluxnotify.transport.http import Request, Transport


@dataclass(frozen=True)
class Capabilities:
    """What the rest of the package needs to know about a type, declared once here; every
    list of types (commit status, change request, generic, direct, families) derives from it."""

    module: str  # inside this package: family.module
    commit_status: bool = False  # posts commit statuses (spec §2.5): commit metadata, status id
    change_request: bool = False  # comments on a change request: needs change_request metadata
    generic: bool = False  # receives commit status updates like git types (spec §2.3)
    reads_before_write: bool = False  # reads existing statuses first; render shows only the write
    direct: bool = False  # the sent request ignores the configured proxy (spec §3.5)
    fluxnotify_only: bool = False  # a type Flux's notification-controller does not have
    # Recovery resolves what an error opened: "native" (every non-error event resolves, as in
    # Flux), "state" (with fluxnotify.io/resolve: the module's incident/encode_resolve), "" never.
    resolve: str = ""

    @property
    def family(self) -> str:
        return self.module.split(".", 1)[0]

    @property
    def per_event_checks(self) -> bool:
        """Its validation uses the event (commit status id) or the Alert: checked per delivery."""
        return self.commit_status or self.change_request


_CHAT, _INCIDENT, _STREAM, _AWS = "chat.", "incident.", "stream.", "aws."


def _git(name: str, direct: bool = True, commit_status: bool = False, change_request: bool = False,
         reads_before_write: bool = False) -> Capabilities:
    return Capabilities("git." + name, commit_status, change_request, direct=direct,
                        reads_before_write=reads_before_write)


def _status(name: str, direct: bool = True) -> Capabilities:
    return _git(name, direct, commit_status=True, reads_before_write=True)


TYPES: dict[str, Capabilities] = {
    "generic": Capabilities(_STREAM + "generic", generic=True),
    "generic-hmac": Capabilities(_STREAM + "generic_hmac", generic=True),
    "slack": Capabilities(_CHAT + "slack"),
    "discord": Capabilities(_CHAT + "discord"),
    "msteams": Capabilities(_CHAT + "msteams"),
    "rocket": Capabilities(_CHAT + "rocket"),
    "googlechat": Capabilities(_CHAT + "googlechat"),
    "webex": Capabilities(_CHAT + "webex"),
    "lark": Capabilities(_CHAT + "lark", direct=True),
    "telegram": Capabilities(_CHAT + "telegram"),
    "matrix": Capabilities(_CHAT + "matrix", direct=True),
    "opsgenie": Capabilities(_INCIDENT + "opsgenie", resolve="state"),
    "alertmanager": Capabilities(_INCIDENT + "alertmanager", resolve="state"),
    "sentry": Capabilities(_INCIDENT + "sentry", direct=True),
    "azureeventhub": Capabilities(_STREAM + "azureeventhub"),
    "github": _status("github"),
    "gitlab": _status("gitlab"),
    "bitbucket": _status("bitbucket"),
    "azuredevops": _status("azuredevops"),
    "grafana": Capabilities(_INCIDENT + "grafana"),
    "pagerduty": Capabilities(_INCIDENT + "pagerduty", resolve="native"),
    "datadog": Capabilities(_INCIDENT + "datadog"),
    "incident.io": Capabilities(_INCIDENT + "incidentio", resolve="native"),
    "zulip": Capabilities(_CHAT + "zulip"),
    "zoom": Capabilities(_CHAT + "zoom"),
    "nats": Capabilities(_STREAM + "nats", direct=True),
    "otel": Capabilities(_STREAM + "otel"),
    "googlepubsub": Capabilities(_STREAM + "googlepubsub"),
    "githubdispatch": _git("githubdispatch"),
    "githubpullrequestcomment": _git("githubpullrequestcomment", change_request=True, reads_before_write=True),
    "gitlabmergerequestcomment": _git("gitlabmergerequestcomment", change_request=True, reads_before_write=True),
    "gitea": _status("gitea", direct=False),
    "giteapullrequestcomment": _git("giteapullrequestcomment", direct=False, change_request=True,
                                    reads_before_write=True),
    "bitbucketserver": _status("bitbucketserver"),
    # fluxnotify's own types: Flux has no such notifier (validate notes it).
    "sns": Capabilities(_AWS + "sns", fluxnotify_only=True),
    "eventbridge": Capabilities(_AWS + "eventbridge", fluxnotify_only=True),
    "email": Capabilities(_CHAT + "email", fluxnotify_only=True),
    "mattermost": Capabilities(_CHAT + "mattermost", fluxnotify_only=True),
    "ntfy": Capabilities(_CHAT + "ntfy", fluxnotify_only=True),
}
_NONE = Capabilities("")  # an unknown type: no capability


def capabilities(type_name: str) -> Capabilities:
    return TYPES.get(type_name, _NONE)


def types_where(flag: str) -> frozenset[str]:
    return frozenset(name for name, caps in TYPES.items() if getattr(caps, flag))


COMMIT_STATUS_TYPES = types_where("commit_status")
CHANGE_REQUEST_TYPES = types_where("change_request")
GENERIC_TYPES = types_where("generic")
DIRECT_TYPES = types_where("direct")
PER_EVENT_CHECKS = types_where("per_event_checks")


def supported_types() -> list[str]:
    return [name for name in TYPES if _find(name) is not None]


@cache  # import_module per delivery costs more than a dict lookup
def _find(type_name: str) -> ModuleType | None:
    module_name = capabilities(type_name).module
    if not module_name:
        return None
    qualified = f"{__name__}.{module_name}"
    try:
        return importlib.import_module(qualified)
    except ModuleNotFoundError as err:
        if err.name == qualified:
            return None  # listed but not built yet
        raise


def fluxnotify_only(type_name: str) -> bool:
    """True for fluxnotify's own types: Flux would refuse them in a cluster."""
    return capabilities(type_name).fluxnotify_only


def get(type_name: str) -> ModuleType:
    module = _find(type_name)
    if module is None:
        text = f"failed to initialize notifier: provider {type_name} not supported"
        close = nearest(type_name, TYPES)  # the listed names: importing every module costs seconds
        raise ConfigError(text + (f" (spec.type: did you mean {close}?)" if close else ""))
    return module


def resolve(provider: Provider, get_secret: SecretLookup) -> ProviderConfig:
    """The Provider's options with its Secrets applied (config/options.py), as its type reads them."""
    return options.resolve(provider, get_secret, capabilities(provider.spec.type).commit_status)


def validate(cfg: ProviderConfig) -> None:
    get(cfg.type).validate(cfg)


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    return get(cfg.type).encode(event, cfg)


_CUSTOM_DELIVER: dict[str, Any] = {}  # type → the module's own deliver(), or None


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    module = get(cfg.type)
    try:
        custom = _CUSTOM_DELIVER[cfg.type]
    except KeyError:  # once per type: a missing attribute raises inside getattr, costly per delivery
        custom = _CUSTOM_DELIVER[cfg.type] = getattr(module, "deliver", None)
    if custom is not None:
        custom(event, cfg, transport)
    else:
        send_all(module.encode(event, cfg), cfg, transport)
