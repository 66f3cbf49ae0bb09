"""opsgenie (spec §5.18): GenieKey auth, alias hash, details = metadata + severity."""

from __future__ import annotations

import hashlib
import json
from http import HTTPStatus

import pytest
from fixtures.incident.incident_helpers import (
    UID,
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
from fluxnotify.transport.http import DeliveryError, Transport
from helpers import dispatch

ADDRESS = "https://api.opsgenie.com/v2/alerts"
TOKEN = "genie-api-key-1234"


def cfg(**values):
    values.setdefault("address", ADDRESS)
    values.setdefault("token", TOKEN)
    return config("opsgenie", **values)


def encode_one(evt, c):
    providers.validate(c)
    (request,) = providers.encode(evt, c)
    return request


def alias_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_spec_alias_example():
    request = encode_one(event(reason="reason"), cfg(uid="test-provider-uid-123"))
    alias = json.loads(request.body)["alias"]
    assert alias == alias_of("test-provider-uid-123/GitRepository/gitops-system/webapp/reason")
    assert alias == "fe0de7c3e730984dc8fa97aa4e3564e679cce5c2fa3103734a603115c16f7156"


def test_info_event_without_metadata():
    request = encode_one(event("info", "reconciled"), cfg())
    assert request.method == "POST"
    assert request.url == ADDRESS
    assert request.headers == {"Content-Type": "application/json", "Authorization": f"GenieKey {TOKEN}"}
    assert json.loads(request.body) == {
        "message": "GitRepository/webapp",
        "alias": alias_of(f"{UID}/GitRepository/gitops-system/webapp/reason"),
        "description": "reconciled",
        "details": {"severity": "info"},
    }


def test_error_event_with_metadata_severity_overwrites():
    metadata = {"revision": "main@sha1:abc", "severity": "from-metadata", "a&b": "<x>"}
    request = encode_one(event("error", "apply failed", metadata, reason="ApplyFailed"), cfg())
    # Go map keys come out sorted, `<>&` escaped as json.Marshal does.
    assert request.body.decode() == (
        '{"message":"GitRepository/webapp",'
        f'"alias":"{alias_of(f"{UID}/GitRepository/gitops-system/webapp/ApplyFailed")}",'
        '"description":"apply failed",'
        '"details":{"a\\u0026b":"\\u003cx\\u003e","revision":"main@sha1:abc","severity":"error"}}'
    )


def test_alias_ignores_message_and_metadata_but_not_reason():
    base = json.loads(encode_one(event(message="one"), cfg()).body)["alias"]
    same = json.loads(encode_one(event(message="two", metadata={"k": "v"}), cfg()).body)["alias"]
    other = json.loads(encode_one(event(reason="Other"), cfg()).body)["alias"]
    assert base == same != other
    assert len(base) == 64


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("", "invalid Opsgenie hook URL : 'parse \"\": empty url'"),
        ("not a url", "invalid Opsgenie hook URL not a url: 'parse \"not a url\": invalid URI for request'"),
        (
            "https://bad url/v2",
            "invalid Opsgenie hook URL https://bad url/v2: "
            '\'parse "https://bad url/v2": invalid character " " in host name\'',
        ),
    ],
)
def test_invalid_address(address, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(address=address))
    assert str(caught.value) == error


def test_empty_token():
    with pytest.raises(ConfigError, match=r"^empty Opsgenie apikey/token$"):
        providers.validate(cfg(token=""))


def test_render_with_secret_uid_and_alert_metadata():
    manifests = (
        provider_yaml("opsgenie", uid="test-provider-uid-123", address=ADDRESS, secretRef={"name": "og"})
        + secret_yaml("og", token=TOKEN)
        + alert_yaml("opsgenie", summary="prod cluster")
    )
    (result,) = render_yaml(manifests, raw_event("error", "boom", {"revision": "main@sha1:1234"}))
    assert result["error"] is None and result["skipped"] is None
    (delivery,) = result["deliveries"]
    assert delivery["method"] == "POST" and delivery["url"] == ADDRESS
    assert delivery["headers"] == {"Content-Type": "application/json", "Authorization": f"GenieKey {TOKEN}"}
    assert delivery["body"] == {
        "message": "GitRepository/webapp",
        "alias": "fe0de7c3e730984dc8fa97aa4e3564e679cce5c2fa3103734a603115c16f7156",
        "description": "boom",
        "details": {"revision": "main@sha1:1234", "severity": "error", "summary": "prod cluster"},
    }


def test_render_reports_missing_token():
    (result,) = render_yaml(provider_yaml("opsgenie", address=ADDRESS), raw_event())
    assert result["error"] == "empty Opsgenie apikey/token"
    assert result["deliveries"] == []


def test_delivery_to_sink(sink):
    sink.respond(202, {"result": "Request will be processed"})
    c = cfg(address=sink.url + "/v2/alerts")
    providers.deliver(event("error", "boom", {"k": "v"}), c, Transport())
    (captured,) = sink.wait_for(1)
    assert captured.method == "POST" and captured.path == "/v2/alerts"
    assert captured.header("Authorization") == f"GenieKey {TOKEN}"
    assert captured.header("Content-Type") == "application/json"
    assert captured.json()["details"] == {"k": "v", "severity": "error"}


@pytest.mark.parametrize(("status", "retryable"), [(422, False), (429, True), (503, True)])
def test_delivery_failure_is_classified(sink, status, retryable):
    sink.respond(status, '{"message":"nope"}')
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(address=sink.url + "/v2/alerts"), Transport())
    assert caught.value.retryable is retryable
    assert str(caught.value) == (
        f'POST {sink.url}/… answered {status} {HTTPStatus(status).phrase}: {{"message":"nope"}}'
    )
    assert TOKEN not in str(caught.value)


# --- delivery through the dispatcher ---------------------------------------------------


def og_manifests(address: str, token: str = TOKEN) -> str:
    return (
        provider_yaml(
            "opsgenie", name="og", uid="test-provider-uid-123", address=address, secretRef={"name": "og"}
        )
        + secret_yaml("og", token=token)
        + alert_yaml("og")
    )


def test_dispatch_delivers(sink):
    report = dispatch(og_manifests(sink.url + "/v2/alerts"), raw_event("error", "boom", {"revision": "r1"}))
    assert report.delivered == ["gitops-system/og"]
    (captured,) = sink.wait_for(1)
    assert captured.header("Authorization") == f"GenieKey {TOKEN}"
    assert captured.json() == {
        "message": "GitRepository/webapp",
        "alias": "fe0de7c3e730984dc8fa97aa4e3564e679cce5c2fa3103734a603115c16f7156",
        "description": "boom",
        "details": {"revision": "r1", "severity": "error"},
    }


def test_dispatch_retries_5xx_and_dead_letters_4xx(sink):
    sink.respond(502, "bad gateway")
    report = dispatch(og_manifests(sink.url + "/v2/alerts"), raw_event())
    assert report.delivered == [] and report.dead_letters == []
    assert [r["targets"] for r in report.retries] == [["gitops-system/og"]]
    sink.respond(403, "forbidden")
    report = dispatch(og_manifests(sink.url + "/v2/alerts"), raw_event(message="other"))
    (letter,) = report.dead_letters
    assert "answered 403 Forbidden" in letter["error"] and TOKEN not in json.dumps(letter)


def test_dispatch_dead_letters_config_error():
    report = dispatch(og_manifests("https://api.opsgenie.com/v2/alerts", token=""), raw_event())
    (letter,) = report.dead_letters
    assert letter["error"].endswith("empty Opsgenie apikey/token")
