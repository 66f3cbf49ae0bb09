"""`sentry`: error events and transactions as a Sentry envelope over HTTP (spec §5.13).

Deliberate difference (DESIGN.md): the reference hands events to the Sentry SDK's
asynchronous transport, which never reports failures. fluxnotify builds the envelope
itself and POSTs it synchronously, so a failure is seen, classified (spec §4.3) and
retried through the queue. No Sentry SDK is needed.

Severity `error` → an error event; `info` → a transaction with one span; anything
else (e.g. `trace`) → nothing is sent (the reference reports an SDK usage error).
TLS (certSecretRef) is honoured; no explicit proxy is used (as the reference's dedicated
transport). The legacy DSN secret key is never sent: Sentry ignores it for envelopes.
"""

from __future__ import annotations

import secrets
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as dist_metadata

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import Skip, send_all
from fluxnotify.transport.http import Request, Transport

CLIENT_NAME = "fluxnotify"
CONTENT_TYPE = "application/x-sentry-envelope"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _client_version() -> str:
    try:
        return dist_metadata.version("fluxnotify")
    except dist_metadata.PackageNotFoundError:  # e.g. the Lambda layer: no dist-info
        return "0.0.0"


CLIENT_VERSION = _client_version()


@dataclass(frozen=True)
class Dsn:
    scheme: str
    public_key: str
    host: str
    port: int
    path: str  # prefix before /<project_id>, "" or "/sub/path"
    project_id: str

    @property
    def origin(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port != _DEFAULT_PORTS[self.scheme]:
            host = f"{host}:{self.port}"
        return f"{self.scheme}://{host}"

    @property
    def envelope_url(self) -> str:
        return f"{self.origin}{self.path}/api/{self.project_id}/envelope/"

    def public(self) -> str:
        """The DSN without any secret key, as written in the envelope header."""
        return (
            f"{self.scheme}://{self.public_key}@{self.origin.split('://', 1)[1]}{self.path}/{self.project_id}"
        )


class DsnError(ConfigError):
    """sentry-go's DsnParseError text; never echoes the DSN itself."""

    def __init__(self, message: str):
        super().__init__(f"[Sentry] DsnParseError: {message}")


def parse_dsn(dsn: str) -> Dsn:
    """`<scheme>://<public_key>[:secret]@<host>[:port]/<path-prefix>/<project_id>`, as sentry-go."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in dsn):
        raise DsnError("invalid url: net/url: invalid control character in URL")
    try:
        parts = urllib.parse.urlsplit(dsn)
        host, port_text = parts.hostname or "", _port_text(parts.netloc)
    except ValueError:
        raise DsnError("invalid url") from None
    if parts.scheme not in _DEFAULT_PORTS:
        raise DsnError("invalid scheme")
    if not parts.username:
        raise DsnError("empty username")
    if not host:
        raise DsnError("empty host")
    if port_text and not port_text.isdigit():
        raise DsnError("invalid port")
    if parts.path in ("", "/"):
        raise DsnError("empty project id")
    *prefix, project_id = parts.path[1:].split("/")
    if not project_id:
        raise DsnError("empty project id")
    return Dsn(
        scheme=parts.scheme,
        public_key=urllib.parse.unquote(parts.username),
        host=host,
        port=int(port_text) if port_text else _DEFAULT_PORTS[parts.scheme],
        path="/" + "/".join(prefix) if prefix else "",
        project_id=project_id,
    )


def _port_text(netloc: str) -> str:
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        _, _, rest = hostport.partition("]")
        return rest[1:] if rest.startswith(":") else ""
    return hostport.partition(":")[2]


def validate(cfg: ProviderConfig) -> None:
    if not cfg.address:
        raise ConfigError("DSN cannot be empty")
    parse_dsn(cfg.address)


def _new_id() -> str:
    return secrets.token_hex(16)


def _timestamp(event: Event) -> str:
    # A missing timestamp is Go's zero time, which the Sentry SDK replaces by "now".
    return event.timestamp_text() or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(event: Event) -> str:
    ref = event.involved_object
    return f"{ref.kind}: {ref.namespace}/{ref.name}"


def _common(cfg: ProviderConfig, event_id: str) -> dict:
    item: dict = {
        "event_id": event_id,
        "platform": "other",
        "sdk": {"name": CLIENT_NAME, "version": CLIENT_VERSION},
    }
    if cfg.channel:
        item["environment"] = cfg.channel
    return item


def error_event(event: Event, cfg: ProviderConfig, event_id: str) -> dict:
    return {
        **_common(cfg, event_id),
        "timestamp": _timestamp(event),
        "level": "error",
        "server_name": event.reporting_controller,
        "transaction": _summary(event),
        "message": event.message,
        "contexts": {"metadata": gojson.go_sorted(event.metadata)},
    }


def transaction_event(event: Event, cfg: ProviderConfig, event_id: str) -> dict:
    ref = event.involved_object
    tags = {
        "flux_involved_object_kind": ref.kind,
        "flux_involved_object_namespace": ref.namespace,
        "flux_involved_object_name": ref.name,
        "flux_reporting_controller": event.reporting_controller,
        "flux_reporting_instance": event.reporting_instance,
        "flux_reason": event.reason,
        **event.metadata,  # metadata may overwrite the names above, as in the reference
    }
    tags = gojson.go_sorted(tags)
    stamp = _timestamp(event)
    trace_id, span_id = _new_id(), secrets.token_hex(8)
    span = {
        "trace_id": trace_id,
        "span_id": span_id,
        "op": "event",
        "tags": tags,
        "start_timestamp": stamp,
        "timestamp": stamp,
    }
    return {
        **_common(cfg, event_id),
        "type": "transaction",
        "transaction": _summary(event),
        "message": event.message,
        "start_timestamp": stamp,
        "timestamp": stamp,
        "contexts": {"trace": {"trace_id": trace_id, "span_id": span_id, "op": "event"}},
        "tags": tags,
        "spans": [span],
    }


def envelope(dsn: Dsn, item: dict, item_type: str) -> bytes:
    """Envelope header line, item header line, item payload (Sentry envelope format)."""
    payload = gojson.dumps(item).encode("utf-8")
    sent_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    header = {"event_id": item["event_id"], "sent_at": sent_at, "dsn": dsn.public()}
    item_header = {"type": item_type, "length": len(payload)}
    lines = [gojson.dumps(header).encode(), gojson.dumps(item_header).encode(), payload]
    return b"\n".join(lines) + b"\n"


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    dsn = parse_dsn(cfg.address)
    event_id = _new_id()
    if event.severity == "error":
        item, item_type = error_event(event, cfg, event_id), "event"
    elif event.severity == "info":
        item, item_type = transaction_event(event, cfg, event_id), "transaction"
    else:
        raise Skip(f"severity {event.severity!r} is not sent to Sentry (only info and error)")
    headers = {
        "Content-Type": CONTENT_TYPE,
        "X-Sentry-Auth": (
            f"Sentry sentry_version=7, sentry_client={CLIENT_NAME}/{CLIENT_VERSION}, "
            f"sentry_key={dsn.public_key}"
        ),
    }
    return [Request("POST", dsn.envelope_url, headers, envelope(dsn, item, item_type))]


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    send_all(encode(event, cfg), cfg, transport, prefix="failed to send Sentry envelope: ", use_proxy=False)
