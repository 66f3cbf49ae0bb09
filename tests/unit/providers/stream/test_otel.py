"""otel (spec §5.32): one span per event over OTLP/HTTP protobuf, decoded by a local receiver.

The receiver is tests/httpsink.py; each body is parsed with opentelemetry-proto's
ExportTraceServiceRequest and its resource, scope, span and attributes are checked.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys

import pytest
from fixtures.incident.incident_helpers import (
    alert_yaml,
    config,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
    secret_yaml,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.model.event import ObjectRef
from fluxnotify.providers.base import ProviderError, Skip
from fluxnotify.transport.http import DeliveryError, Transport
from helpers import dispatch

ALERT = ("flux-system", "traces", "5c3d9e10-aaaa-bbbb-cccc-000000000001")
OBJ = ObjectRef(kind="Kustomization", namespace="apps", name="webapp", uid="7d0cdc51-ddcf-4743")
STAMP_NS = 1664520029 * 1_000_000_000


def cfg(**values):
    values.setdefault("address", "https://otel.example.com:4318")
    values.setdefault("alert", ALERT)
    return config("otel", **values)


def ks_event(severity="info", message="applied", metadata=None, **overrides):
    overrides.setdefault("involved_object", OBJ)
    return event(severity, message, metadata, "ReconciliationSucceeded", **overrides)


def decode(body: bytes):
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    (resource_spans,) = request.resource_spans
    (scope_spans,) = resource_spans.scope_spans
    (span,) = scope_spans.spans
    resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
    attributes = {kv.key: kv.value.string_value for kv in span.attributes}
    return resource, scope_spans.scope.name, span, attributes


def sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def test_span_exported_to_receiver(sink):
    evt = ks_event("error", "health check failed", {"revision": "main@sha1:abc", "env": "prod"})
    providers.deliver(evt, cfg(address=sink.url), Transport())
    (captured,) = sink.wait_for(1)
    assert (captured.method, captured.path) == ("POST", "/v1/traces")
    assert captured.header("Content-Type") == "application/x-protobuf"
    resource, scope, span, attributes = decode(captured.body)
    assert resource == {
        "service.name": "flux-system/traces",
        "service.namespace": "flux-system",
        "service.instance.id": ALERT[2],
    }
    assert scope == "flux:notification-controller"
    assert span.name == "Kustomization: apps/webapp"
    assert span.trace_id == sha(f"{ALERT[2]}:main@sha1:abc")[:16]
    assert span.span_id == sha(f"{OBJ.uid}:main@sha1:abc")[:8]
    assert span.parent_span_id == b""
    assert span.start_time_unix_nano == STAMP_NS
    assert span.end_time_unix_nano >= span.start_time_unix_nano
    assert attributes == {
        "object.uid": OBJ.uid,
        "object.kind": "Kustomization",
        "object.name": "webapp",
        "object.namespace": "apps",
        "env": "prod",
        "revision": "main@sha1:abc",
    }
    assert (span.status.code, span.status.message) == (2, "health check failed")


def test_info_is_ok_without_description(sink):
    providers.deliver(ks_event(), cfg(address=sink.url + "/custom/path"), Transport())
    (captured,) = sink.wait_for(1)
    assert captured.path == "/custom/path"
    _, _, span, _ = decode(captured.body)
    assert (span.status.code, span.status.message) == (1, "")
    assert span.trace_id == sha(f"{ALERT[2]}:unknown")[:16]


@pytest.mark.parametrize(
    ("metadata", "rev"),
    [
        ({"app-version": "1.2.3", "oci-digest": "sha256:ff", "revision": "x"}, "1.2.3@sha256:ff"),
        ({"app-version": "1.2.3", "revision": "x"}, "x"),
        ({}, "unknown"),
    ],
)
def test_trace_id_revision(metadata, rev):
    (delivery,) = providers.encode(ks_event(metadata=metadata), cfg())
    assert delivery.span.trace_id == sha(f"{ALERT[2]}:{rev}")[:16]


@pytest.mark.parametrize(
    ("values", "header"),
    [
        ({"headers": {"X-Scope-OrgID": "t1"}, "token": "tok"}, "Bearer tok"),
        ({"headers": {"X-Scope-OrgID": "t1"}, "password": "pw"}, "Bearer pw"),  # token falls back to password
        ({"headers": {"X-Scope-OrgID": "t1"}, "username": "u", "password": "pw"}, "Basic " + base64.b64encode(b"u:pw").decode()),
        ({"headers": {"X-Scope-OrgID": "t1"}, "username": "u"}, None),
        ({"headers": {"Authorization": "Custom x"}, "token": "tok"}, "Custom x"),
        ({"token": "tok"}, None),  # quirk §7.9: no headers key, no auth header
    ],
)
def test_auth_header(values, header):
    (delivery,) = providers.encode(ks_event(), cfg(**values))
    assert delivery.headers.get("Authorization") == header


def test_helm_repository_is_skipped():
    with pytest.raises(Skip):
        providers.encode(ks_event(involved_object=ObjectRef(kind="HelmRepository", namespace="a", name="b")), cfg())


def test_alert_identity_is_required():
    with pytest.raises(ProviderError) as caught:
        providers.encode(ks_event(), cfg(alert=None))
    assert str(caught.value) == "alert metadata not found in context"


@pytest.mark.parametrize("address", ["", "otel-collector:4318"])
def test_address_is_required(address):
    with pytest.raises(ConfigError):
        providers.validate(cfg(address=address))


def test_proxy_gets_the_credentials():
    (delivery,) = providers.encode(ks_event(), cfg(proxy="http://proxy:3128", username="u", password="p"))
    assert delivery.proxy == "http://u:p@proxy:3128"


def test_render_with_alert_and_without():
    provider = provider_yaml("otel", name="tempo", address="http://tempo:4318", secretRef={"name": "otel"})
    secret = secret_yaml("otel", headers="X-Scope-OrgID: flux\n", username="flux", password="s3cret")
    (without,) = render_yaml(provider + secret, raw_event())
    assert without["error"] == "alert metadata not found in context"
    (result,) = render_yaml(provider + secret + alert_yaml("tempo", name="traces"), raw_event("error", "boom"))
    (delivery,) = result["deliveries"]
    assert delivery["transport"] == "otlp-http" and delivery["url"] == "http://tempo:4318/v1/traces"
    assert delivery["headers"]["Authorization"] == "Basic " + base64.b64encode(b"flux:s3cret").decode()
    assert delivery["resource"]["service.name"] == "gitops-system/traces"
    assert delivery["span"]["name"] == "GitRepository: gitops-system/webapp"
    assert delivery["span"]["status"] == {"code": "STATUS_CODE_ERROR", "message": "boom"}
    assert delivery["span"]["startTimeUnixNano"] == str(STAMP_NS)


def test_dispatch_exports_with_the_routing_alert(sink):
    manifests = provider_yaml("otel", name="tempo", address=sink.url) + alert_yaml("tempo", name="traces")
    report = dispatch(manifests, raw_event("info", "hi", {"revision": "r1"}))
    assert report.delivered == ["gitops-system/tempo"]
    resource, _, span, attributes = decode(sink.wait_for(1)[0].body)
    assert resource["service.name"] == "gitops-system/traces"
    assert attributes["revision"] == "r1"


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (503, True)])
def test_failures(sink, status, retryable):
    sink.respond(status, "no")
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(ks_event(), cfg(address=sink.url, headers={"X": "y"}, token="otel-t0ken"), Transport())
    assert str(caught.value).startswith(f"failed to export span: POST {sink.url}/… answered {status} ")
    assert caught.value.retryable is retryable
    assert "otel-t0ken" not in str(caught.value)


def test_protobuf_is_not_imported_until_delivery():
    code = (
        "import sys\n"
        "from fluxnotify import providers\n"
        "from fluxnotify.model.event import Event\n"
        "from fluxnotify.config.options import ProviderConfig\n"
        "cfg = ProviderConfig(namespace='n', name='e', uid='u', type='otel', address='http://h:4318',"
        " alert=('n', 'a', 'u'))\n"
        "providers.validate(cfg); providers.encode(Event(), cfg)[0].render()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry', 'google.protobuf'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
