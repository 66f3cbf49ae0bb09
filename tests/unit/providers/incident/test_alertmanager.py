"""alertmanager (spec §5.19): one firing alert, labels, annotations, title-cased alertname, auth."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone

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

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.providers.incident.alertmanager import title
from fluxnotify.transport.http import DeliveryError, Transport

ADDRESS = "https://am.example.com/api/v2/alerts"
ZERO = "0001-01-01T00:00:00Z"


def cfg(**values):
    values.setdefault("address", ADDRESS)
    return config("alertmanager", **values)


def encode_one(evt, c):
    providers.validate(c)
    (request,) = providers.encode(evt, c)
    return request


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def fixed_labels(severity: str, reason: str, alertname: str) -> dict:
    return {
        "alertname": alertname,
        "kind": "GitRepository",
        "name": "webapp",
        "namespace": "gitops-system",
        "reason": reason,
        "reportingcontroller": "source-controller",
        "severity": severity,
    }


@pytest.mark.parametrize(
    ("reason", "titled"),
    [
        ("reason", "Reason"),
        ("HealthCheckFailed", "Healthcheckfailed"),
        ("ReconciliationSucceeded", "Reconciliationsucceeded"),
        ("install failed", "Install Failed"),
        ("v1beta", "V1beta"),
        ("a-b", "A-B"),
        # the word-break rules spelled out in the spec
        ("don't stop", "Don't Stop"),
        ("a.b", "A.b"),
        ("a..b", "A..B"),
        ("a:b", "A:b"),
        ("a·b", "A·b"),
        ("snake_case_reason", "Snake_case_reason"),
        ("x/y z", "X/Y Z"),
        ("2fast", "2Fast"),
        ("", ""),
    ],
)
def test_title_casing(reason, titled):
    assert title(reason) == titled


def test_info_event_without_metadata():
    request = encode_one(event("info", "reconciled", reason="ReconciliationSucceeded"), cfg())
    assert request.method == "POST"
    assert request.url == ADDRESS
    assert request.headers == {"Content-Type": "application/json"}
    assert json.loads(request.body) == [
        {
            "status": "firing",
            "labels": fixed_labels(
                "info", "ReconciliationSucceeded", "FluxGitRepositoryReconciliationsucceeded"
            ),
            "annotations": {"message": "reconciled"},
            "startsAt": "2022-09-30T06:40:29Z",
            "endsAt": ZERO,
        }
    ]


def test_error_event_with_metadata_summary_and_overwritten_labels():
    metadata = {"revision": "main@sha1:abc", "summary": "prod", "name": "from-metadata", "env": "prod"}
    request = encode_one(event("error", "health check failed", metadata, reason="HealthCheckFailed"), cfg())
    labels = fixed_labels("error", "HealthCheckFailed", "FluxGitRepositoryHealthcheckfailed")
    assert json.loads(request.body) == [
        {
            "status": "firing",
            "labels": {**labels, "revision": "main@sha1:abc", "env": "prod"},
            "annotations": {"message": "health check failed", "summary": "prod"},
            "startsAt": "2022-09-30T06:40:29Z",
            "endsAt": ZERO,
        }
    ]
    # Byte level: array of one object, fields in the reference's order, maps sorted.
    text = request.body.decode()
    assert text.startswith(
        '[{"status":"firing","labels":{"alertname":"FluxGitRepositoryHealthcheckfailed","env":"prod",'
    )
    assert text.endswith(
        '"annotations":{"message":"health check failed","summary":"prod"},'
        '"startsAt":"2022-09-30T06:40:29Z","endsAt":"0001-01-01T00:00:00Z"}]'
    )


def test_empty_summary_is_still_an_annotation():
    request = encode_one(event(metadata={"summary": ""}), cfg())
    (alert,) = json.loads(request.body)
    assert alert["annotations"] == {"message": "message", "summary": ""}
    assert "summary" not in alert["labels"]


def test_starts_at_is_utc_with_z():
    stamp = datetime(2024, 1, 2, 3, 4, 5, 987654, tzinfo=timezone(timedelta(hours=2)))
    (alert,) = json.loads(encode_one(event(timestamp=stamp), cfg()).body)
    assert alert["startsAt"] == "2024-01-02T01:04:05Z"


def test_missing_timestamp_is_the_zero_time():
    (alert,) = json.loads(encode_one(event(timestamp=None), cfg()).body)
    assert alert["startsAt"] == ZERO


@pytest.mark.parametrize(
    ("values", "header"),
    [
        ({"username": "u", "password": "p"}, basic("u", "p")),
        ({"username": "u", "password": "p", "token": "t0k3n"}, basic("u", "p")),  # quirk §7.2
        ({"token": "t0k3n"}, "Bearer t0k3n"),
        ({"username": "u", "token": "t0k3n"}, "Bearer t0k3n"),  # Basic needs both
        ({"password": "p", "token": "t0k3n"}, "Bearer t0k3n"),
        ({"username": "u"}, None),
        ({}, None),
    ],
)
def test_auth(values, header):
    request = encode_one(event(), cfg(**values))
    assert request.headers.get("Authorization") == header


def test_userinfo_in_address_becomes_basic_and_is_stripped():
    request = encode_one(event(), cfg(address="https://am%40user:s%3Acret@am.example.com:9093/api/v2/alerts"))
    assert request.url == "https://am.example.com:9093/api/v2/alerts"
    assert request.headers["Authorization"] == basic("am@user", "s:cret")


def test_explicit_credentials_win_over_userinfo():
    request = encode_one(event(), cfg(address="https://x:y@am.example.com/api/v2/alerts", token="t0k3n"))
    assert request.url == ADDRESS
    assert request.headers["Authorization"] == "Bearer t0k3n"


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("", "invalid Alertmanager URL : 'parse \"\": empty url'"),
        (
            "invalid-url",
            "invalid Alertmanager URL invalid-url: 'parse \"invalid-url\": invalid URI for request'",
        ),
        (
            "http://am\n/",
            "invalid Alertmanager URL http://am\n/: "
            "'parse \"http://am\\n/\": net/url: invalid control character in URL'",
        ),
    ],
)
def test_invalid_address(address, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(address=address))
    assert str(caught.value) == error


def test_render_with_basic_auth_secret_and_alert_summary():
    manifests = (
        provider_yaml("alertmanager", address=ADDRESS, secretRef={"name": "am"})
        + secret_yaml("am", username="flux", password="s3cret")
        + alert_yaml("alertmanager", summary="prod cluster")
    )
    (result,) = render_yaml(manifests, raw_event("error", "boom", {"revision": "main@sha1:1"}, "ApplyFailed"))
    assert result["error"] is None
    (delivery,) = result["deliveries"]
    assert delivery["url"] == ADDRESS
    assert delivery["headers"] == {
        "Content-Type": "application/json",
        "Authorization": basic("flux", "s3cret"),
    }
    assert delivery["body"] == [
        {
            "status": "firing",
            "labels": {
                **fixed_labels("error", "ApplyFailed", "FluxGitRepositoryApplyfailed"),
                "revision": "main@sha1:1",
            },
            "annotations": {"message": "boom", "summary": "prod cluster"},
            "startsAt": "2022-09-30T06:40:29Z",
            "endsAt": ZERO,
        }
    ]


def test_render_reports_invalid_address():
    (result,) = render_yaml(provider_yaml("alertmanager", address="not a url"), raw_event())
    assert (
        result["error"]
        == "invalid Alertmanager URL not a url: 'parse \"not a url\": invalid URI for request'"
    )


def test_delivery_to_sink_with_bearer(sink):
    providers.deliver(event(), cfg(address=sink.url + "/api/v2/alerts", token="t0k3n"), Transport())
    (captured,) = sink.wait_for(1)
    assert captured.method == "POST" and captured.path == "/api/v2/alerts"
    assert captured.header("Authorization") == "Bearer t0k3n"
    assert captured.json()[0]["labels"]["alertname"] == "FluxGitRepositoryReason"


def test_delivery_sends_userinfo_as_basic(sink):
    address = sink.url.replace("http://", "http://flux:pa55@") + "/api/v2/alerts"
    providers.deliver(event(), cfg(address=address), Transport())
    (captured,) = sink.wait_for(1)
    assert captured.header("Authorization") == basic("flux", "pa55")


def test_delivery_through_explicit_proxy(sink):
    # The sink acts as a plain HTTP proxy: the request line carries the absolute URL.
    providers.deliver(
        event(), cfg(address="http://am.invalid:9093/api/v2/alerts", proxy=sink.url), Transport()
    )
    (captured,) = sink.wait_for(1)
    assert captured.path == "http://am.invalid:9093/api/v2/alerts"


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (401, False), (500, True), (501, False)])
def test_delivery_failure_is_classified(sink, status, retryable):
    sink.respond(status, "bad")
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(
            event(), cfg(address=sink.url + "/api/v2/alerts", password="x", username="y"), Transport()
        )
    assert caught.value.retryable is retryable
    assert caught.value.status == status
    assert re.match(rf"POST http://127\.0\.0\.1:\d+(/…)? answered {status} ", str(caught.value))
