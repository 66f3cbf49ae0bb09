"""`generic-hmac`: `generic` plus an X-Signature HMAC-SHA256 of the body (spec §5.6)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import merge_headers
from fluxnotify.providers.stream import generic
from fluxnotify.transport.http import Request


def validate(cfg: ProviderConfig) -> None:
    generic.validate(cfg)
    if not cfg.token:
        raise ConfigError("HMAC key is empty")


def signature(key: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    request = generic.base_request(event, cfg)
    # Set after the user's headers, so it wins over a user-supplied X-Signature.
    headers = merge_headers(request.headers, {"X-Signature": signature(cfg.token, request.body)})
    return [replace(request, headers=headers)]
