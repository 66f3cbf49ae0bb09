"""sentry (spec §5.13, DESIGN.md "Deliberate differences"): DSN, synchronous envelope over HTTP."""

from __future__ import annotations

import json
import re
from datetime import datetime
from http import HTTPStatus

import pytest
from fixtures.incident.incident_helpers import (
    STAMP_TEXT,
    alert_yaml,
    config,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
    secret_yaml,
)

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.providers.base import Skip
from fluxnotify.providers.incident import sentry
from fluxnotify.transport.http import DeliveryError, Request, Response, TLSMaterial, Transport
from helpers import dispatch

DSN = "https://0123abcd@o42.ingest.sentry.io/4242"
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
AUTH = f"Sentry sentry_version=7, sentry_client=fluxnotify/{sentry.CLIENT_VERSION}, sentry_key=0123abcd"


def cfg(**values):
    values.setdefault("address", DSN)
    return config("sentry", **values)


def encode_one(evt, c):
    providers.validate(c)
    (request,) = providers.encode(evt, c)
    return request


def parse_envelope(body: bytes) -> tuple[dict, dict, dict]:
    """(envelope header, item header, item payload), checking the declared length."""
    header_line, rest = body.split(b"\n", 1)
    item_header_line, rest = rest.split(b"\n", 1)
    item_header = json.loads(item_header_line)
    payload = rest[: item_header["length"]]
    assert rest[item_header["length"] :] == b"\n"
    return json.loads(header_line), item_header, json.loads(payload)


# --- DSN ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "url", "public"),
    [
        (DSN, "https://o42.ingest.sentry.io/api/4242/envelope/", DSN),
        ("https://k@h:443/1", "https://h/api/1/envelope/", "https://k@h/1"),
        ("http://k@h:80/1", "http://h/api/1/envelope/", "http://k@h/1"),
        ("http://k:legacy-secret@localhost:9000/1", "http://localhost:9000/api/1/envelope/", "http://k@localhost:9000/1"),
        ("https://k@self.hosted/sub/path/77", "https://self.hosted/sub/path/api/77/envelope/", "https://k@self.hosted/sub/path/77"),
        ("http://k@[::1]:9000/5", "http://[::1]:9000/api/5/envelope/", "http://k@[::1]:9000/5"),
    ],
)  # fmt: skip
def test_dsn_to_envelope_url(dsn, url, public):
    parsed = sentry.parse_dsn(dsn)
    assert parsed.envelope_url == url
    assert parsed.public() == public


@pytest.mark.parametrize(
    ("dsn", "error"),
    [
        ("", "DSN cannot be empty"),
        ("not a dsn", "[Sentry] DsnParseError: invalid scheme"),
        ("ftp://k@h/1", "[Sentry] DsnParseError: invalid scheme"),
        ("https://sentry.io/1", "[Sentry] DsnParseError: empty username"),
        ("https://k@/1", "[Sentry] DsnParseError: empty host"),
        ("https://k@h:abc/1", "[Sentry] DsnParseError: invalid port"),
        ("https://k@h", "[Sentry] DsnParseError: empty project id"),
        ("https://k@h/", "[Sentry] DsnParseError: empty project id"),
        ("https://k@h/prefix/", "[Sentry] DsnParseError: empty project id"),
        ("https://k@h/1\n", "[Sentry] DsnParseError: invalid url: net/url: invalid control character in URL"),
    ],
)
def test_invalid_dsn(dsn, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(address=dsn))
    assert str(caught.value) == error


def test_dsn_errors_do_not_echo_the_dsn():
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(address="https://topsecretkey@h:bad/1"))
    assert "topsecretkey" not in str(caught.value)


# --- envelope ----------------------------------------------------------------------


def test_error_event_with_metadata():
    metadata = {"revision": "main@sha1:abc", "summary": "prod"}
    request = encode_one(
        event("error", "apply failed", metadata, reason="ApplyFailed"), cfg(channel="production")
    )
    assert request.method == "POST"
    assert request.url == "https://o42.ingest.sentry.io/api/4242/envelope/"
    assert request.headers == {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": AUTH}
    header, item_header, item = parse_envelope(request.body)
    assert item_header == {"type": "event", "length": len(request.body.split(b"\n")[2])}
    assert header["dsn"] == DSN and header["event_id"] == item["event_id"]
    assert HEX32.match(item.pop("event_id"))
    datetime.fromisoformat(header["sent_at"])
    assert item == {
        "platform": "other",
        "sdk": {"name": "fluxnotify", "version": sentry.CLIENT_VERSION},
        "environment": "production",
        "timestamp": STAMP_TEXT,
        "level": "error",
        "server_name": "source-controller",
        "transaction": "GitRepository: gitops-system/webapp",
        "message": "apply failed",
        "contexts": {"metadata": {"revision": "main@sha1:abc", "summary": "prod"}},
    }


def test_error_event_without_metadata_or_channel():
    _, _, item = parse_envelope(encode_one(event("error"), cfg()).body)
    assert item["contexts"] == {"metadata": {}}
    assert "environment" not in item  # Sentry applies its default environment


def test_info_event_is_a_transaction_with_one_span():
    metadata = {"revision": "main@sha1:abc", "flux_reason": "overwritten"}
    request = encode_one(
        event("info", "stored artifact", metadata, reason="ArtifactUpToDate"), cfg(channel="dev")
    )
    header, item_header, item = parse_envelope(request.body)
    assert item_header["type"] == "transaction"
    trace = item["contexts"]["trace"]
    (span,) = item.pop("spans")
    assert (
        HEX32.match(item.pop("event_id")) and HEX32.match(trace["trace_id"]) and HEX16.match(trace["span_id"])
    )
    tags = {
        "flux_involved_object_kind": "GitRepository",
        "flux_involved_object_name": "webapp",
        "flux_involved_object_namespace": "gitops-system",
        "flux_reason": "overwritten",  # metadata may overwrite the fixed tag names
        "flux_reporting_controller": "source-controller",
        "flux_reporting_instance": "source-controller-xyz",
        "revision": "main@sha1:abc",
    }
    assert item == {
        "platform": "other",
        "sdk": {"name": "fluxnotify", "version": sentry.CLIENT_VERSION},
        "environment": "dev",
        "type": "transaction",
        "transaction": "GitRepository: gitops-system/webapp",
        "message": "stored artifact",
        "start_timestamp": STAMP_TEXT,
        "timestamp": STAMP_TEXT,
        "contexts": {"trace": {"trace_id": trace["trace_id"], "span_id": trace["span_id"], "op": "event"}},
        "tags": tags,
    }
    assert span == {
        "trace_id": trace["trace_id"],
        "span_id": trace["span_id"],
        "op": "event",
        "tags": tags,
        "start_timestamp": STAMP_TEXT,
        "timestamp": STAMP_TEXT,
    }
    assert header["event_id"] != trace["trace_id"]


def test_info_event_without_metadata_has_the_six_tags():
    _, _, item = parse_envelope(encode_one(event("info", reason="Succeeded"), cfg()).body)
    assert sorted(item["tags"]) == [
        "flux_involved_object_kind",
        "flux_involved_object_name",
        "flux_involved_object_namespace",
        "flux_reason",
        "flux_reporting_controller",
        "flux_reporting_instance",
    ]
    assert item["tags"]["flux_reason"] == "Succeeded"


def test_ids_are_random_per_encode():
    first = parse_envelope(encode_one(event("info"), cfg()).body)[2]
    second = parse_envelope(encode_one(event("info"), cfg()).body)[2]
    assert first["event_id"] != second["event_id"]
    assert first["contexts"]["trace"]["trace_id"] != second["contexts"]["trace"]["trace_id"]


def test_missing_timestamp_uses_now():
    _, _, item = parse_envelope(encode_one(event("error", timestamp=None), cfg()).body)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", item["timestamp"])
    assert item["timestamp"][:4] >= "2024"


@pytest.mark.parametrize("severity", ["trace", "debug", ""])
def test_other_severities_send_nothing(severity):
    with pytest.raises(Skip):
        providers.encode(event(severity), cfg())


# --- render ------------------------------------------------------------------------


def test_render_error_and_trace():
    manifests = (
        provider_yaml("sentry", channel="staging", secretRef={"name": "sentry"})
        + secret_yaml("sentry", address=DSN)
        + alert_yaml("sentry", summary="eu cluster")
    )
    (result,) = render_yaml(manifests, raw_event("error", "boom", {"revision": "main@sha1:1"}))
    assert result["error"] is None and result["skipped"] is None
    (delivery,) = result["deliveries"]
    assert delivery["method"] == "POST"
    assert delivery["url"] == "https://o42.ingest.sentry.io/api/4242/envelope/"
    assert delivery["headers"] == {"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": AUTH}
    assert delivery["body"] == delivery["raw"]  # not one JSON value: the envelope text
    _, item_header, item = parse_envelope(delivery["raw"].encode())
    assert item_header["type"] == "event"
    assert item["environment"] == "staging"
    assert item["contexts"]["metadata"] == {"revision": "main@sha1:1", "summary": "eu cluster"}

    (trace,) = render_yaml(manifests, raw_event("trace", "debugging"))
    assert trace["deliveries"] == [] and trace["error"] is None
    assert trace["skipped"] == "severity 'trace' is not sent to Sentry (only info and error)"


def test_render_reports_empty_dsn():
    (result,) = render_yaml(provider_yaml("sentry"), raw_event())
    assert result["error"] == "DSN cannot be empty"


# --- delivery ----------------------------------------------------------------------


def sink_dsn(sink, project: str = "3") -> str:
    return sink.url.replace("http://", "http://pubkey@") + f"/prefix/{project}"


def test_delivery_to_sink(sink):
    sink.respond(200, {"id": "abc"})
    providers.deliver(
        event("error", "boom", {"k": "v"}), cfg(address=sink_dsn(sink), channel="prod"), Transport()
    )
    (captured,) = sink.wait_for(1)
    assert captured.method == "POST"
    assert captured.path == "/prefix/api/3/envelope/"
    assert captured.header("Content-Type") == "application/x-sentry-envelope"
    assert captured.header("X-Sentry-Auth") == AUTH.replace("0123abcd", "pubkey")
    header, item_header, item = parse_envelope(captured.body)
    assert header["dsn"] == sink_dsn(sink)
    assert item_header == {"type": "event", "length": len(captured.body.split(b"\n")[2])}
    assert item["level"] == "error"
    assert item["message"] == "boom"
    assert item["server_name"] == "source-controller"
    assert item["transaction"] == "GitRepository: gitops-system/webapp"
    assert item["environment"] == "prod"
    assert item["timestamp"] == STAMP_TEXT
    assert item["contexts"] == {"metadata": {"k": "v"}}


def test_info_delivery_to_sink(sink):
    providers.deliver(event("info", "ok"), cfg(address=sink_dsn(sink)), Transport())
    (captured,) = sink.wait_for(1)
    _, item_header, item = parse_envelope(captured.body)
    assert item_header["type"] == "transaction"
    assert item["type"] == "transaction"
    assert item["spans"][0]["op"] == "event"


def test_trace_delivery_sends_nothing(sink):
    with pytest.raises(Skip):
        providers.deliver(event("trace"), cfg(address=sink_dsn(sink)), Transport())
    assert sink.requests == []


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [
        (429, {"Retry-After": "60"}, True, 60.0),
        (503, {}, True, None),
        (400, {}, False, None),
        (413, {}, False, None),
    ],
)
def test_delivery_failures_are_seen_and_classified(sink, status, headers, retryable, retry_after):
    sink.respond(status, '{"detail":"nope"}', headers)
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event("error"), cfg(address=sink_dsn(sink)), Transport())
    assert caught.value.retryable is retryable
    assert caught.value.retry_after == retry_after
    assert str(caught.value) == (
        f'failed to send Sentry envelope: POST {sink.url}/… answered {status} {HTTPStatus(status).phrase}: {{"detail":"nope"}}'
    )


def test_connection_refused_is_retryable(sink):
    dsn = sink_dsn(sink)
    sink.__exit__(None, None, None)  # nothing listens any more
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event("error"), cfg(address=dsn), Transport())
    assert caught.value.retryable is True
    assert "pubkey" not in str(caught.value)


class Recorder:
    def __init__(self):
        self.calls = []

    def send(self, request: Request, *, proxy="", tls=None, timeout=15.0):
        self.calls.append((request, proxy, tls, timeout))
        return Response(200, {}, b"{}")


def test_tls_honoured_and_proxy_not_used():
    tls = TLSMaterial(ca="---CA---")
    recorder = Recorder()
    sentry.deliver(event("error"), cfg(tls=tls, proxy="http://proxy:3128", timeout=7.0), recorder)
    ((request, proxy, used_tls, timeout),) = recorder.calls
    assert request.url == "https://o42.ingest.sentry.io/api/4242/envelope/"
    assert (proxy, used_tls, timeout) == ("", tls, 7.0)


# --- delivery through the dispatcher ---------------------------------------------------


def sentry_manifests(dsn: str, **spec) -> str:
    return (
        provider_yaml("sentry", name="sn", channel="prod", secretRef={"name": "sn"}, **spec)
        + secret_yaml("sn", address=dsn)
        + alert_yaml("sn")
    )


def test_dispatch_delivers_error_and_skips_trace(sink):
    report = dispatch(sentry_manifests(sink_dsn(sink)), raw_event("error", "boom", {"revision": "r1"}))
    assert report.delivered == ["gitops-system/sn"]
    (captured,) = sink.wait_for(1)
    _, _, item = parse_envelope(captured.body)
    assert item["contexts"] == {"metadata": {"revision": "r1"}}
    assert item["environment"] == "prod"
    report = dispatch(sentry_manifests(sink_dsn(sink)), raw_event("trace", "noise"))
    assert report.delivered == [] and report.dead_letters == []
    assert report.skipped == {
        "gitops-system/sn": "severity 'trace' is not sent to Sentry (only info and error)"
    }
    assert len(sink.requests) == 1


def test_dispatch_retries_rate_limits(sink):
    sink.respond(429, "slow down", {"Retry-After": "30"})
    report = dispatch(sentry_manifests(sink_dsn(sink)), raw_event("error"))
    assert report.delivered == [] and report.dead_letters == []
    assert [r["targets"] for r in report.retries] == [["gitops-system/sn"]]
    assert report.delays[0] >= 30


def test_dispatch_dead_letters_invalid_dsn():
    report = dispatch(sentry_manifests("https://sentry.io/1"), raw_event("error"))
    (letter,) = report.dead_letters
    assert letter["error"].endswith("[Sentry] DsnParseError: empty username")
