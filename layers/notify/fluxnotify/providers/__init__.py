"""Provider registry: Flux's `type` string → the module that implements it.

Modules are imported on first use, so a dispatcher that only ever talks to
Slack never imports the Event Hubs SDK or the CEL library.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType

from fluxnotify.config.hints import nearest
from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import send_all
from fluxnotify.transport.http import Request, Transport

# type → module inside this package, by family (chat, incident, git, stream, aws).
_MODULES = {
    "generic": "stream.generic",
    "generic-hmac": "stream.generic_hmac",
    "slack": "chat.slack",
    "discord": "chat.discord",
    "msteams": "chat.msteams",
    "rocket": "chat.rocket",
    "googlechat": "chat.googlechat",
    "webex": "chat.webex",
    "lark": "chat.lark",
    "telegram": "chat.telegram",
    "matrix": "chat.matrix",
    "opsgenie": "incident.opsgenie",
    "alertmanager": "incident.alertmanager",
    "sentry": "incident.sentry",
    "azureeventhub": "stream.azureeventhub",
    "github": "git.github",
    "gitlab": "git.gitlab",
    "bitbucket": "git.bitbucket",
    "azuredevops": "git.azuredevops",
    "grafana": "incident.grafana",
    "pagerduty": "incident.pagerduty",
    "datadog": "incident.datadog",
    "incident.io": "incident.incidentio",
    "zulip": "chat.zulip",
    "zoom": "chat.zoom",
    "nats": "stream.nats",
    "otel": "stream.otel",
    "googlepubsub": "stream.googlepubsub",
    "githubdispatch": "git.githubdispatch",
    "githubpullrequestcomment": "git.githubpullrequestcomment",
    "gitlabmergerequestcomment": "git.gitlabmergerequestcomment",
    "gitea": "git.gitea",
    "giteapullrequestcomment": "git.giteapullrequestcomment",
    "bitbucketserver": "git.bitbucketserver",
    "sns": "aws.sns",
    "eventbridge": "aws.eventbridge",
    "email": "chat.email",
    "mattermost": "chat.mattermost",
    "ntfy": "chat.ntfy",
}


def supported_types() -> list[str]:
    return [name for name in _MODULES if _find(name) is not None]


@cache  # import_module per delivery costs more than a dict lookup
def _find(type_name: str) -> ModuleType | None:
    module_name = _MODULES.get(type_name)
    if module_name is None:
        return None
    qualified = f"{__name__}.{module_name}"
    try:
        return importlib.import_module(qualified)
    except ModuleNotFoundError as err:
        if err.name == qualified:
            return None  # listed but not built yet
        raise


def fluxnotify_only(type_name: str) -> bool:
    """True for fluxnotify's own types (module constant FLUXNOTIFY_ONLY): Flux would refuse them."""
    module = _find(type_name)
    return bool(getattr(module, "FLUXNOTIFY_ONLY", False))


def get(type_name: str) -> ModuleType:
    module = _find(type_name)
    if module is None:
        text = f"failed to initialize notifier: provider {type_name} not supported"
        close = nearest(type_name, _MODULES)  # the listed names: importing every module costs seconds
        raise ConfigError(text + (f" (spec.type: did you mean {close}?)" if close else ""))
    return module


def validate(cfg: ProviderConfig) -> None:
    get(cfg.type).validate(cfg)


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    return get(cfg.type).encode(event, cfg)


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    module = get(cfg.type)
    custom = getattr(module, "deliver", None)
    if custom is not None:
        custom(event, cfg, transport)
    else:
        send_all(module.encode(event, cfg), cfg, transport)
