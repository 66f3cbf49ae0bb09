"""`azureeventhub`: the event's Go-JSON as one message to Azure Event Hubs (spec §5.14).

Two ways to authenticate, chosen as the reference does:
* SAS: the address is a connection string (it contains `SharedAccessKey`) whose
  `EntityPath` names the hub;
* JWT: the address is the hub name, the channel the Event Hubs namespace and the token
  a static bearer JWT. fluxnotify has no workload identity (DESIGN.md "Identity"), so
  a JWT-mode provider without a token is refused.

The azure-eventhub SDK is imported only when delivering (through ``_sdk``), so other
providers never pay for it. Producers are reused across warm invocations per
(auth, namespace, hub, credential fingerprint); one that failed is closed and dropped
so the next attempt reconnects. The SDK's own retries are off: retries go through the
queue like every other delivery (DESIGN.md "Delivery and retries").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import urllib.parse
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.transport.http import DeliveryError, Transport

logger = logging.getLogger(__name__)

_AUTH_PREFIX = "invalid authentication options: "
_SAS_PREFIX = "failed to create a eventhub using SAS: "
# Far-future expiry of the static JWT (the SDK would otherwise ask for a new one).
_STATIC_TOKEN_EXPIRY = 32503680000  # 3000-01-01T00:00:00Z
# SDK exceptions that no retry can fix.
_PERMANENT_ERRORS = frozenset(
    {"AuthenticationError", "ClientAuthenticationError", "EventDataError", "ValueError", "TypeError"}
)


@dataclass(frozen=True)
class Target:
    """Where and how to publish; ``secret`` (connection string or JWT) is never rendered."""

    auth: str  # "sas" | "jwt"
    namespace: str  # fully qualified, e.g. "ns.servicebus.windows.net"
    eventhub: str
    secret: str = field(repr=False)

    @property
    def cache_key(self) -> tuple[str, str, str, str]:
        fingerprint = hashlib.sha256(self.secret.encode("utf-8")).hexdigest()
        return (self.auth, self.namespace, self.eventhub, fingerprint)


@dataclass(frozen=True)
class EventHubDelivery:
    """A non-HTTP delivery: what `fluxnotify render` shows (no keys, no tokens)."""

    target: Target
    raw: str

    def render(self) -> dict[str, Any]:
        return {
            "transport": "eventhub",
            "namespace": self.target.namespace,
            "eventhub": self.target.eventhub,
            "auth": self.target.auth,
            "body": json.loads(self.raw),
            "raw": self.raw,
        }


# --- configuration ---------------------------------------------------------------


def is_sas(address: str) -> bool:
    return "SharedAccessKey" in address


def parse_connection_string(text: str) -> dict[str, str]:
    """`Key=Value;...` with case-insensitive keys (as the SDKs read it); values keep `=`."""
    settings: dict[str, str] = {}
    for part in text.strip().split(";"):
        key, sep, value = part.partition("=")
        if sep:
            settings[key.strip().lower()] = value.strip()
    return settings


def _sas_target(address: str) -> Target:
    settings = parse_connection_string(address)
    endpoint = settings.get("endpoint", "")
    if not endpoint:
        raise ConfigError(_SAS_PREFIX + 'key "Endpoint" must not be empty')
    namespace = urllib.parse.urlsplit(endpoint).netloc.strip()
    if not namespace:
        raise ConfigError(
            _SAS_PREFIX + 'key "Endpoint" must be a URL such as sb://<namespace>.servicebus.windows.net/'
        )
    for key in ("SharedAccessKeyName", "SharedAccessKey"):
        if not settings.get(key.lower()):
            raise ConfigError(_SAS_PREFIX + f'key "{key}" must not be empty')
    hub = settings.get("entitypath", "")
    if not hub:
        raise ConfigError(
            _SAS_PREFIX
            + "connection string does not contain an EntityPath. eventHub cannot be an empty string"
        )
    return Target("sas", namespace, hub, address)


def fully_qualified_namespace(channel: str) -> str:
    """The channel as-is when qualified, else with the cloud's suffix (AZURE_AUTHORITY_HOST)."""
    if ".servicebus." in channel:
        return channel
    authority = os.environ.get("AZURE_AUTHORITY_HOST", "")
    if "chinacloudapi.cn" in authority:
        return channel + ".servicebus.chinacloudapi.cn"
    if "microsoftonline.us" in authority:
        return channel + ".servicebus.usgovcloudapi.net"
    return channel + ".servicebus.windows.net"


def target(cfg: ProviderConfig) -> Target:
    """Check the options (spec §5.14 texts) and say where to publish."""
    if not cfg.address:
        raise ConfigError(_AUTH_PREFIX + "endpoint URL cannot be empty")
    if is_sas(cfg.address):
        if cfg.service_account_name:
            raise ConfigError(
                _AUTH_PREFIX + "serviceAccountName and SAS authentication cannot be set at the same time"
            )
        if cfg.token:
            raise ConfigError(
                _AUTH_PREFIX + "jwt token and SAS authentication cannot be set at the same time"
            )
        return _sas_target(cfg.address)
    if cfg.token and cfg.service_account_name:
        raise ConfigError(
            _AUTH_PREFIX + "serviceAccountName and jwt token authentication cannot be set at the same time"
        )
    if not cfg.token:
        raise ConfigError(
            _AUTH_PREFIX + "no jwt token: fluxnotify has no workload identity, so set the Secret key "
            "'token' to a JWT for the Event Hubs namespace, or set the address to a SAS connection "
            "string (Endpoint=sb://...;SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=<hub>)"
        )
    if not cfg.channel:
        raise ConfigError(
            _AUTH_PREFIX + "channel cannot be empty: with a jwt token the channel is the Event Hubs "
            "namespace and the address the Event Hub name"
        )
    return Target("jwt", fully_qualified_namespace(cfg.channel), cfg.address, cfg.token)


def validate(cfg: ProviderConfig) -> None:
    target(cfg)


def encode(event: Event, cfg: ProviderConfig) -> list[EventHubDelivery]:
    return [EventHubDelivery(target(cfg), event.go_json())]


# --- delivery --------------------------------------------------------------------


class StaticTokenCredential:
    """An azure-core TokenCredential that always returns the configured JWT."""

    def __init__(self, token: str):
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, _STATIC_TOKEN_EXPIRY)

    def __repr__(self) -> str:
        return "StaticTokenCredential(token=*****)"


def _sdk() -> ModuleType:
    """The azure.eventhub module (imported on first delivery only; tests replace this)."""
    import azure.eventhub

    return azure.eventhub


def new_producer(target: Target) -> Any:
    """An EventHubProducerClient for the target, SDK retries off."""
    sdk = _sdk()
    if target.auth == "sas":
        return sdk.EventHubProducerClient.from_connection_string(target.secret, retry_total=0)
    return sdk.EventHubProducerClient(
        fully_qualified_namespace=target.namespace,
        eventhub_name=target.eventhub,
        credential=StaticTokenCredential(target.secret),
        retry_total=0,
    )


class _Producers:
    """Producers kept across warm invocations; each used by one thread at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple, tuple[Any, threading.Lock]] = {}

    def get(self, target: Target) -> tuple[Any, threading.Lock]:
        with self._lock:
            entry = self._entries.get(target.cache_key)
            if entry is None:
                entry = (new_producer(target), threading.Lock())
                self._entries[target.cache_key] = entry
            return entry

    def discard(self, target: Target, producer: Any) -> None:
        with self._lock:
            entry = self._entries.get(target.cache_key)
            if entry is not None and entry[0] is producer:
                del self._entries[target.cache_key]
        try:
            producer.close()
        except Exception as err:  # noqa: BLE001 - a broken client may fail to close
            logger.info("unable to close connection: %s", type(err).__name__)

    def close_all(self) -> None:
        """Close every kept producer (e.g. at shutdown); report the first failure after all."""
        with self._lock:
            entries, self._entries = list(self._entries.values()), {}
        errors = []
        for producer, _ in entries:
            try:
                producer.close()
            except Exception as err:  # noqa: BLE001 - keep closing the others
                errors.append(err)
        if errors:
            raise DeliveryError(f"unable to close connection: {errors[0]}", retryable=False)


PRODUCERS = _Producers()


def _failure(step: str, err: Exception, where: Target) -> DeliveryError:
    """The spec's step text plus the SDK error, classified; keys and tokens masked."""
    names = {cls.__name__ for cls in type(err).__mro__}
    retryable = not (names & _PERMANENT_ERRORS)
    return DeliveryError(f"{step}: {_mask(f'{type(err).__name__}: {err}', where)}", retryable=retryable)


def _mask(text: str, where: Target) -> str:
    settings = parse_connection_string(where.secret) if where.auth == "sas" else {}
    hidden = [where.secret, settings.get("sharedaccesskey", ""), settings.get("sharedaccesssignature", "")]
    for secret in sorted((s for s in hidden if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "*****")
    return text


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    """Create a batch, add the event, send it. The HTTP transport is not used."""
    where = target(cfg)
    raw = event.go_json()
    try:
        sdk = _sdk()
    except ImportError as err:
        raise DeliveryError(
            f"azure-eventhub is not installed (pip install 'fluxnotify[eventhub]'): {err}", retryable=False
        ) from None
    try:
        producer, lock = PRODUCERS.get(where)
    except Exception as err:  # noqa: BLE001 - SDK construction errors
        raise _failure("failed to create a eventhub client", err, where) from None
    with lock:
        step = "failed to create event data batch"
        try:
            batch = producer.create_batch()
            step = "failed to add event data to batch"
            batch.add(sdk.EventData(raw))
            step = "failed to send msg"
            producer.send_batch(batch, timeout=cfg.timeout)
        except Exception as err:  # noqa: BLE001 - every SDK error is classified below
            failure = _failure(step, err, where)
            if step != "failed to add event data to batch":
                PRODUCERS.discard(where, producer)
            raise failure from None
