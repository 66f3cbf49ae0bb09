"""pagerduty (spec §5.28): trigger/resolve with the object UID as dedup key, change events."""

from __future__ import annotations

import json

import pytest
from fixtures.incident.incident_helpers import config, event, provider_yaml, raw_event, render_yaml

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.model.event import ObjectRef
from fluxnotify.providers.base import Skip
from fluxnotify.transport.http import DeliveryError, Transport
from helpers import dispatch

KEY = "R0UTINGKEY0123456789"
OBJ_UID = "7d0cdc51-ddcf-4743-b223-83ca5c699632"


def test_app(severity="error", reason="Failed", metadata=None, uid=OBJ_UID, **overrides):
    ref = ObjectRef(kind="GitRepository", namespace="gitops-system", name="test-app", uid=uid)
    overrides.setdefault("involved_object", ref)
    return event(severity, "the message", metadata, reason, **overrides)


test_app.__test__ = False  # a builder, not a test


def cfg(**values):
    values.setdefault("address", "https://events.eu.pagerduty.com/v2/enqueue")
    values.setdefault("channel", KEY)
    return config("pagerduty", **values)


def bodies(evt, c=None):
    c = c or cfg()
    providers.validate(c)
    return [(r.url, json.loads(r.body)) for r in providers.encode(evt, c)]


def test_error_triggers_with_dedup_key():
    (only,) = bodies(test_app(metadata={"revision": "main@sha1:1", "env": "prod"}))
    assert only == (
        "https://events.eu.pagerduty.com/v2/enqueue",
        {
            "routing_key": KEY,
            "event_action": "trigger",
            "dedup_key": OBJ_UID,
            "payload": {
                "summary": "failed: gitrepository/test-app",
                "source": "Flux source-controller",
                "severity": "error",
                "timestamp": "2022-09-30T06:40:29Z",
                "component": "test-app",
                "group": "GitRepository",
                "custom_details": {"message": "the message", "metadata": {"env": "prod", "revision": "main@sha1:1"}},
            },
        },
    )


def test_info_resolves_and_sends_a_change_event():
    resolve, change = bodies(test_app("info", "Succeeded"))
    assert resolve == (
        "https://events.eu.pagerduty.com/v2/enqueue",
        {"routing_key": KEY, "event_action": "resolve", "dedup_key": OBJ_UID},
    )
    assert change == (
        "https://events.eu.pagerduty.com/v2/change/enqueue",
        {
            "routing_key": KEY,
            "payload": {
                "summary": "succeeded: gitrepository/test-app",
                "source": "Flux source-controller",
                "timestamp": "2022-09-30T06:40:29Z",
                "custom_details": {"message": "the message", "metadata": None},
            },
        },
    )


def test_trace_only_resolves():  # quirk §7.11
    assert [url for url, _ in bodies(test_app("trace", "Succeeded"))] == [
        "https://events.eu.pagerduty.com/v2/enqueue"
    ]


def test_empty_uid_name_kind_are_omitted_and_zero_time():
    evt = test_app(uid="", timestamp=None, involved_object=ObjectRef(namespace="ns"))
    ((_, body),) = bodies(evt)
    assert "dedup_key" not in body
    assert "component" not in body["payload"] and "group" not in body["payload"]
    assert body["payload"]["timestamp"] == "0001-01-01T00:00:00Z"


def test_progressing_sends_nothing():
    with pytest.raises(Skip):
        providers.encode(test_app(reason="Progressing"), cfg())


def test_only_scheme_and_host_are_kept():
    ((url, _),) = bodies(test_app(), cfg(address="http://127.0.0.1:8080/some/path?q=1"))
    assert url == "http://127.0.0.1:8080/v2/enqueue"


def test_invalid_address():
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(address="not a url"))
    assert str(caught.value) == (
        "invalid PagerDuty endpoint URL \"not a url\": 'parse \"not a url\": invalid URI for request'"
    )


def test_render_of_the_flux_docs_example():
    manifests = provider_yaml("pagerduty", address="https://events.pagerduty.com", channel=KEY)
    (result,) = render_yaml(manifests, raw_event("info", "hello", reason="ReconciliationSucceeded"))
    assert [d["url"] for d in result["deliveries"]] == [
        "https://events.pagerduty.com/v2/enqueue",
        "https://events.pagerduty.com/v2/change/enqueue",
    ]
    assert result["deliveries"][1]["body"]["payload"]["summary"] == "reconciliation succeeded: gitrepository/webapp"


def test_delivery_sends_both_in_order(sink):
    providers.deliver(test_app("info", "Succeeded"), cfg(address=sink.url), Transport())
    first, second = sink.wait_for(2)
    assert [first.path, second.path] == ["/v2/enqueue", "/v2/change/enqueue"]
    assert first.header("Content-Type") == "application/json"
    assert second.json()["routing_key"] == KEY


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (500, True), (429, True)])
def test_failure_of_the_first_request(sink, status, retryable):
    sink.respond(status, "bad")
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(test_app(), cfg(address=sink.url), Transport())
    assert str(caught.value).startswith(f"failed sending event: POST {sink.url}/… answered {status} ")
    assert caught.value.retryable is retryable


def test_failure_of_the_change_event(sink):
    sink.respond(202, "{}")
    sink.respond(400, "bad")
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(test_app("info", "Succeeded"), cfg(address=sink.url), Transport())
    assert str(caught.value).startswith("failed sending change event: ")
    assert KEY not in str(caught.value)


def test_dispatch_records_progressing_as_skipped(sink):
    manifests = provider_yaml("pagerduty", address=sink.url, channel=KEY) + (
        '{"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert", '
        '"metadata": {"name": "pd", "namespace": "gitops-system"}, '
        '"spec": {"providerRef": {"name": "pagerduty"}, "eventSources": [{"kind": "GitRepository", "name": "*"}]}}\n'
    )
    report = dispatch(manifests, raw_event("info", "wait", reason="Progressing"))
    assert report.delivered == [] and report.dead_letters == []
    assert sink.requests == []
