"""`googlepubsub`: the event's Go-JSON published to a Pub/Sub topic over the REST API (spec §5.27).

Address = GCP project id, channel = topic id; Secret `headers` become message attributes.
Credentials: Secret `token` holds service-account JSON. A JWT signed with its key (RS256)
is exchanged for an OAuth access token at the key's `token_uri` (kept until shortly
before it expires), which authorises `POST /v1/projects/P/topics/T:publish`.
fluxnotify has no workload identity (DESIGN.md "Identity"), so a Provider without JSON
credentials is refused — except with `PUBSUB_EMULATOR_HOST` set, where, as with Google's
own clients, messages go to that emulator over plain HTTP without auth.

Dependency: `rsa` (pure Python, ~130 KB with pyasn1) for the RS256 signature. Not
google-cloud-pubsub (gRPC, tens of MB) nor cryptography (~5 MB): either would break the
layer's size budget. `rsa` is imported only when a token is fetched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import send_one
from fluxnotify.transport.http import DeliveryError, Request, Response, Transport

PUBSUB_API = "https://pubsub.googleapis.com"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/pubsub"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EMULATOR_ENV = "PUBSUB_EMULATOR_HOST"
_TOKEN_MARGIN = 60  # seconds before expiry when a kept token is renewed


@dataclass(frozen=True)
class ServiceAccount:
    email: str
    key_id: str
    token_uri: str
    private_key: str = field(repr=False)

    @property
    def cache_key(self) -> str:
        return hashlib.sha256(f"{self.email}\0{self.token_uri}\0{self.private_key}".encode()).hexdigest()


@dataclass(frozen=True)
class PubSubDelivery:
    topic: str  # projects/<p>/topics/<t>
    url: str
    attributes: dict[str, str]
    raw: str
    account: ServiceAccount | None = field(default=None, repr=False)  # None: the emulator

    def render(self) -> dict[str, Any]:
        return {
            "transport": "googlepubsub",
            "topic": self.topic,
            "url": self.url,
            "auth": f"service account {self.account.email}" if self.account else "none (emulator)",
            "attributes": self.attributes,
            "body": json.loads(self.raw),
            "raw": self.raw,
        }

    def publish_body(self) -> bytes:
        message: dict[str, Any] = {"data": base64.b64encode(self.raw.encode("utf-8")).decode("ascii")}
        if self.attributes:
            message["attributes"] = self.attributes
        return json.dumps({"messages": [message]}).encode("utf-8")


# --- configuration ---------------------------------------------------------------


def service_account(token: str) -> ServiceAccount:
    """The fields of a service-account JSON key; errors never quote the key."""
    try:
        data = json.loads(token)
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"invalid GCP JSON credentials in the Secret key 'token': not JSON (line {err.lineno}, column {err.colno})"
        ) from None
    if not isinstance(data, dict) or data.get("type") != "service_account":
        raise ConfigError(
            "invalid GCP JSON credentials in the Secret key 'token': expected a service account key "
            '("type": "service_account")'
        )
    missing = [key for key in ("client_email", "private_key") if not isinstance(data.get(key), str) or not data[key]]
    if missing:
        raise ConfigError(f"invalid GCP JSON credentials in the Secret key 'token': missing {', '.join(missing)}")
    return ServiceAccount(
        email=data["client_email"],
        key_id=str(data.get("private_key_id") or ""),
        token_uri=str(data.get("token_uri") or DEFAULT_TOKEN_URI),
        private_key=data["private_key"],
    )


def _account(cfg: ProviderConfig) -> ServiceAccount | None:
    if os.environ.get(EMULATOR_ENV):
        return None
    if not cfg.token:
        raise ConfigError(
            "no GCP credentials: fluxnotify has no workload identity, so set the Secret key 'token' "
            "to the JSON key of a service account allowed to publish to the topic"
        )
    return service_account(cfg.token)


def validate(cfg: ProviderConfig) -> None:
    if not cfg.address:
        raise ConfigError("GCP project ID cannot be empty")
    if not cfg.channel:
        raise ConfigError("GCP Pub/Sub topic ID cannot be empty")
    _account(cfg)


def api_base() -> str:
    emulator = os.environ.get(EMULATOR_ENV)
    return f"http://{emulator}" if emulator else PUBSUB_API


def encode(event: Event, cfg: ProviderConfig) -> list[PubSubDelivery]:
    validate(cfg)
    topic = f"projects/{cfg.address}/topics/{cfg.channel}"
    project, topic_id = (urllib.parse.quote(part, safe="") for part in (cfg.address, cfg.channel))
    url = f"{api_base()}/v1/projects/{project}/topics/{topic_id}:publish"
    return [PubSubDelivery(topic, url, dict(cfg.headers), event.go_json(), _account(cfg))]


# --- access tokens ---------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_jwt(account: ServiceAccount, now: int) -> str:
    """The RS256 assertion of the OAuth 2.0 JWT bearer grant for the Pub/Sub scope."""
    import rsa

    header = {"alg": "RS256", "typ": "JWT", **({"kid": account.key_id} if account.key_id else {})}
    claims = {"iss": account.email, "scope": SCOPE, "aud": account.token_uri, "iat": now, "exp": now + 3600}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = rsa.sign(signing_input.encode("ascii"), _private_key(account.private_key), "SHA-256")
    return f"{signing_input}.{_b64url(signature)}"


def _private_key(pem: str) -> Any:
    """An rsa.PrivateKey from a PKCS#8 ("BEGIN PRIVATE KEY") or PKCS#1 PEM."""
    import rsa
    from pyasn1.codec.der import decoder

    try:
        if "BEGIN RSA PRIVATE KEY" in pem:
            return rsa.PrivateKey.load_pkcs1(pem.encode())
        der = rsa.pem.load_pem(pem.encode(), "PRIVATE KEY")
        info, _ = decoder.decode(der)
        return rsa.PrivateKey.load_pkcs1(bytes(info[2]), format="DER")
    except Exception:  # noqa: BLE001 - never echo the key material
        raise DeliveryError("failed to get an access token: the service account private_key is not a valid RSA key",
                            retryable=False) from None


class _Tokens:
    """Access tokens per service account, kept across warm invocations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def get(self, account: ServiceAccount, cfg: ProviderConfig, transport: Transport) -> str:
        with self._lock:
            kept = self._tokens.get(account.cache_key)
        if kept is not None and kept[1] - _TOKEN_MARGIN > time.time():
            return kept[0]
        token, expires_in = _fetch_token(account, cfg, transport)
        with self._lock:
            self._tokens[account.cache_key] = (token, time.time() + expires_in)
        return token

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


TOKENS = _Tokens()


def _fetch_token(account: ServiceAccount, cfg: ProviderConfig, transport: Transport) -> tuple[str, float]:
    form = urllib.parse.urlencode({"grant_type": JWT_GRANT, "assertion": signed_jwt(account, int(time.time()))})
    request = Request(
        "POST", account.token_uri, {"Content-Type": "application/x-www-form-urlencoded"}, form.encode("ascii")
    )
    # The proxy is honoured for the token exchange only (spec §3.5); TLS material is not.
    response = send_one(request, cfg, transport, prefix="failed to get an access token: ", use_tls=False)
    answer = _json(response)
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise DeliveryError("failed to get an access token: no access_token in the answer", retryable=False)
    expires_in = answer.get("expires_in", 3600)
    return token, float(expires_in) if isinstance(expires_in, int | float) else 3600.0


def _json(response: Response) -> Any:
    try:
        return json.loads(response.body)
    except ValueError:
        return None


# --- delivery --------------------------------------------------------------------


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    """Fetch (or reuse) a token, publish, and require the server's message id."""
    (delivery,) = encode(event, cfg)
    prefix = f"error publishing to GCP Pub/Sub topic {delivery.topic}: "
    headers = {"Content-Type": "application/json"}
    try:
        if delivery.account is not None:
            headers["Authorization"] = f"Bearer {TOKENS.get(delivery.account, cfg, transport)}"
        request = Request("POST", delivery.url, headers, delivery.publish_body())
        response = send_one(request, cfg, transport, prefix="", use_proxy=False, use_tls=False)
    except DeliveryError as err:
        if err.status == 401 and delivery.account is not None:
            TOKENS.clear()  # a revoked or expired token: fetch a new one on the retry
        raise err.wrap(prefix) from None
    answer = _json(response)
    ids = answer.get("messageIds") if isinstance(answer, dict) else None
    if not isinstance(ids, list) or not ids:
        raise DeliveryError(prefix + "the answer carries no message id", retryable=True)
