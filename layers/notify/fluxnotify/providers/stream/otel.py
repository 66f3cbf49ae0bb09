"""`otel`: one span per event, exported synchronously over OTLP/HTTP protobuf (spec §5.32).

Dependency: opentelemetry-proto, the OpenTelemetry project's generated OTLP messages (with
protobuf, ~430 KB zipped): the wire format is theirs, so their messages encode it. Not the
OpenTelemetry SDK: the span is built here with the reference's ids, and one POST sends it
through the shared transport (proxy, TLS, timeout, error classes). The protobuf modules are
imported only when delivering; ``render`` shows the span as JSON.

Ids are deterministic, as the reference makes them: trace id = first 16 bytes of
SHA-256(`<alertUID>:<revision>`), span id = first 8 bytes of SHA-256(`<objectUID>:<revision>`).
The span ends when it is sent (the reference ends it after processing).
"""

from __future__ import annotations

import base64
import hashlib
import time
import urllib.parse
from dataclasses import dataclass, field, replace
from typing import Any

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import ProviderError, Skip, send_one
from fluxnotify.transport.http import Request, Transport

TRACER = "flux:notification-controller"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.40.0"
DEFAULT_PATH = "/v1/traces"


@dataclass(frozen=True)
class Span:
    trace_id: bytes
    span_id: bytes
    name: str
    start_ns: int
    attributes: dict[str, str]
    error: str | None  # the status description for severity error; None means Ok
    resource: dict[str, str]


@dataclass(frozen=True)
class OtlpDelivery:
    """One OTLP/HTTP export; headers may carry credentials (render shows them, as for HTTP)."""

    url: str
    span: Span
    headers: dict[str, str] = field(default_factory=dict)
    proxy: str = ""

    def render(self) -> dict[str, Any]:
        span = self.span
        status = {"code": "STATUS_CODE_ERROR", "message": span.error} if span.error is not None else {"code": "STATUS_CODE_OK"}
        return {
            "transport": "otlp-http",
            "method": "POST",
            "url": self.url,
            "headers": {"Content-Type": "application/x-protobuf", **self.headers},
            "resource": span.resource,
            "scope": TRACER,
            "span": {
                "traceId": span.trace_id.hex(),
                "spanId": span.span_id.hex(),
                "name": span.name,
                "kind": "SPAN_KIND_INTERNAL",
                "startTimeUnixNano": str(span.start_ns),
                "attributes": span.attributes,
                "status": status,
            },
        }

    def request(self, end_ns: int) -> Request:
        headers = {"Content-Type": "application/x-protobuf", **self.headers}
        return Request("POST", self.url, headers, export_request(self.span, end_ns))


# --- configuration ---------------------------------------------------------------


def validate(cfg: ProviderConfig) -> None:
    # Not in the spec: the reference's exporter silently falls back to localhost:4318.
    if not cfg.address:
        raise ConfigError("otel: address cannot be empty: set it to the OTLP/HTTP traces URL")
    parts = urllib.parse.urlsplit(cfg.address)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"otel: invalid OTLP/HTTP URL {cfg.address}: expected http(s)://host[:port][/path]")


def endpoint(address: str) -> str:
    parts = urllib.parse.urlsplit(address)
    return urllib.parse.urlunsplit(parts._replace(path=parts.path or DEFAULT_PATH))


def auth_headers(cfg: ProviderConfig) -> dict[str, str]:
    """The Secret headers; Authorization added only to a non-empty map without one (quirk §7.9)."""
    headers = dict(cfg.headers)
    if not headers or headers.get("Authorization"):
        return headers
    secret = cfg.token or cfg.password
    if not cfg.username:
        headers["Authorization"] = f"Bearer {secret}"
    elif secret:
        basic = base64.b64encode(f"{cfg.username}:{secret}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {basic}"
    return headers


def proxy_url(cfg: ProviderConfig) -> str:
    """The proxy, with username:password as its userinfo when both are set."""
    if not cfg.proxy or not (cfg.username and cfg.password):
        return cfg.proxy
    parts = urllib.parse.urlsplit(cfg.proxy)
    userinfo = f"{urllib.parse.quote(cfg.username, safe='')}:{urllib.parse.quote(cfg.password, safe='')}"
    return parts._replace(netloc=f"{userinfo}@{parts.netloc.rpartition('@')[2]}").geturl()


# --- the span --------------------------------------------------------------------


def revision(event: Event) -> str:
    metadata = event.metadata
    if "app-version" in metadata and "oci-digest" in metadata:
        return f"{metadata['app-version']}@{metadata['oci-digest']}"
    return metadata.get("revision", "unknown")


def _digest(uid: str, rev: str) -> bytes:
    return hashlib.sha256(f"{uid}:{rev}".encode()).digest()


def span(event: Event, alert: tuple[str, str, str]) -> Span:
    namespace, name, uid = alert
    ref = event.involved_object
    rev = revision(event)
    attributes = {
        "object.uid": ref.uid,
        "object.kind": ref.kind,
        "object.name": ref.name,
        "object.namespace": ref.namespace,
    }
    attributes.update(gojson.go_sorted(event.metadata))
    start = event.timestamp
    return Span(
        trace_id=_digest(uid, rev)[:16],
        span_id=_digest(ref.uid, rev)[:8],
        name=f"{ref.kind}: {ref.namespace}/{ref.name}",
        start_ns=int(start.timestamp()) * 1_000_000_000 + start.microsecond * 1000 if start else 0,
        attributes=attributes,
        error=event.message if event.severity == "error" else None,
        resource={"service.name": f"{namespace}/{name}", "service.namespace": namespace, "service.instance.id": uid},
    )


def encode(event: Event, cfg: ProviderConfig) -> list[OtlpDelivery]:
    if cfg.alert is None:
        raise ProviderError("alert metadata not found in context")
    if event.involved_object.kind == "HelmRepository":
        raise Skip("kind HelmRepository is not traced")
    return [OtlpDelivery(endpoint(cfg.address), span(event, cfg.alert), auth_headers(cfg), proxy_url(cfg))]


def export_request(item: Span, end_ns: int) -> bytes:
    """ExportTraceServiceRequest bytes (opentelemetry-proto, imported here only)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan

    def values(pairs: dict[str, str]) -> list[KeyValue]:
        return [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in pairs.items()]

    status = (Status(code=Status.STATUS_CODE_ERROR, message=item.error) if item.error is not None
              else Status(code=Status.STATUS_CODE_OK))
    proto_span = ProtoSpan(
        trace_id=item.trace_id,
        span_id=item.span_id,
        name=item.name,
        kind=ProtoSpan.SPAN_KIND_INTERNAL,
        start_time_unix_nano=item.start_ns,
        end_time_unix_nano=max(end_ns, item.start_ns),
        attributes=values(item.attributes),
        status=status,
    )
    message = ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=values(item.resource)),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name=TRACER), spans=[proto_span])],
                schema_url=SCHEMA_URL,
            )
        ]
    )
    return message.SerializeToString()


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    for delivery in encode(event, cfg):
        request = delivery.request(time.time_ns())
        send_one(request, _with_proxy(cfg, delivery.proxy), transport, prefix="failed to export span: ")


def _with_proxy(cfg: ProviderConfig, proxy: str) -> ProviderConfig:
    return replace(cfg, proxy=proxy) if proxy != cfg.proxy else cfg
