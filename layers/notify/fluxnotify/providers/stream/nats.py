"""`nats`: the event's Go-JSON published to a NATS subject (spec §5.30).

Dependency: nats-py, the NATS maintainers' own Python client (pure Python, ~100 KB): it
speaks the protocol, TLS upgrades, the nonce signing of NKey/JWT auth and the server's
INFO/-ERR handling, which a hand-written client would have to copy. It is imported only
when delivering. Creds and NKey auth additionally need the `nkeys` package (with PyNaCl),
which is not in the Lambda layer by default (see docs/providers/nats.md).

Auth priority as the reference: Secret `creds` (user JWT + NKey seed) → Secret `nkey`
(seed) → username and password (both non-empty) → none. One connection per delivery,
closed afterwards (the reference does the same); no client-side reconnects or retries:
a failed delivery is retried through the queue.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.transport.http import DeliveryError, Transport

CLIENT_NAME = "NATS Provider Publisher"
# Server answers that no retry can fix.
_PERMANENT = ("authorization violation", "authentication", "permissions violation", "user authentication")


@dataclass(frozen=True)
class NatsDelivery:
    """What `render` shows; the credentials themselves stay out of the rendered form."""

    server: str
    subject: str
    auth: str  # "creds" | "nkey" | "userpass" | "none"
    raw: str
    credentials: dict[str, str] = field(default_factory=dict, repr=False)

    def render(self) -> dict[str, Any]:
        return {
            "transport": "nats",
            "server": self.server,
            "subject": self.subject,
            "auth": self.auth,
            "body": json.loads(self.raw),
            "raw": self.raw,
        }


def validate(cfg: ProviderConfig) -> None:
    if not cfg.address:
        raise ConfigError("NATS server (address) cannot be empty")
    if not cfg.channel:
        raise ConfigError("NATS subject (channel) cannot be empty")


def credentials(cfg: ProviderConfig) -> tuple[str, dict[str, str]]:
    if cfg.secret.get("creds"):
        return "creds", {"creds": cfg.secret["creds"]}
    if cfg.secret.get("nkey"):
        return "nkey", {"nkey": cfg.secret["nkey"]}
    if cfg.username and cfg.password:
        return "userpass", {"user": cfg.username, "password": cfg.password}
    return "none", {}


def encode(event: Event, cfg: ProviderConfig) -> list[NatsDelivery]:
    validate(cfg)
    auth, secret = credentials(cfg)
    return [NatsDelivery(cfg.address, cfg.channel, auth, event.go_json(), secret)]


# --- delivery --------------------------------------------------------------------


def _connect_options(delivery: NatsDelivery, timeout: float) -> dict[str, Any]:
    from nats.aio.client import RawCredentials

    async def quiet(_error: Exception) -> None:  # errors are raised to us; no stderr noise
        return None

    options: dict[str, Any] = {
        # Like Go's nats.Connect: a comma-separated list of server URLs is allowed.
        "servers": [server.strip() for server in delivery.server.split(",") if server.strip()],
        "name": CLIENT_NAME,
        "connect_timeout": timeout,
        "allow_reconnect": False,
        "max_reconnect_attempts": 0,
        "error_cb": quiet,
    }
    if delivery.auth == "creds":
        options["user_credentials"] = RawCredentials(delivery.credentials["creds"])
    elif delivery.auth == "nkey":
        options["nkeys_seed_str"] = delivery.credentials["nkey"]
    elif delivery.auth == "userpass":
        options.update(delivery.credentials)
    return options


async def _publish(delivery: NatsDelivery, timeout: float) -> None:
    import nats

    prefix = f"error publishing event to subject {delivery.subject}: "
    try:
        client = await asyncio.wait_for(nats.connect(**_connect_options(delivery, timeout)), timeout)
    except Exception as err:  # noqa: BLE001 - every client error is classified
        raise _failure(prefix + "error connecting to server: ", err) from None
    try:
        await client.publish(delivery.subject, delivery.raw.encode("utf-8"))
        await client.flush(timeout=timeout)  # type: ignore[arg-type]  # annotated int, waits any float
    except Exception as err:  # noqa: BLE001
        raise _failure(prefix + "error publishing message to server: ", err) from None
    finally:
        try:
            await client.close()
        except Exception:  # noqa: BLE001, S110 - the message was flushed (or the error raised)
            pass


def _failure(prefix: str, err: Exception) -> DeliveryError:
    text = str(err) or type(err).__name__
    if isinstance(err, ImportError):
        return DeliveryError(f"{prefix}{text} (creds/nkey auth needs the 'nkeys' package)", retryable=False)
    permanent = any(marker in text.lower() for marker in _PERMANENT)
    return DeliveryError(f"{prefix}{type(err).__name__}: {text}", retryable=not permanent)


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run on a fresh event loop; in a thread of its own when the caller already has one."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    """Connect, publish, flush, close. The HTTP transport is not used."""
    (delivery,) = encode(event, cfg)
    try:
        import nats  # noqa: F401
    except ImportError as err:
        raise DeliveryError(f"nats-py is not installed: {err}", retryable=False) from None
    _run(_publish(delivery, cfg.timeout))
