"""Shared provider helpers (spec §5.0), generic (§5.5), generic-hmac (§5.6), slack (§5.1), render/CLI."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fluxnotify import providers
from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event, ObjectRef, parse_event
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.render import render
from fluxnotify.providers.base import canonical_header, merge_headers, require_url, url_error
from fluxnotify.providers.chat import slack
from fluxnotify.providers.stream import generic_hmac
from fluxnotify.transport.http import DeliveryError, Response, Transport
from helpers import dispatch

ROOT = Path(__file__).resolve().parents[3]
SPEC_KEY = "7152fed34dd6149a7c75a276c510da27cb6f82b0"
SPEC_SIGNATURE = "sha256=65b018549b1254e7226d1c08f9567ee45bc9de0fc4e7b1a40253f9a018b08be7"
SPEC_JSON = (
    '{"involvedObject":{"kind":"GitRepository","namespace":"gitops-system","name":"webapp"},'
    '"severity":"info","timestamp":"2022-09-30T06:40:29Z","message":"message","reason":"reason",'
    '"metadata":{"test":"metadata"},"reportingController":"source-controller",'
    '"reportingInstance":"source-controller-xyz"}'
)
OBJ_DOT = "gitrepository/webapp.gitops-system"
HOOK = "https://hooks.slack.com/services/T000/B000/XXXX?x=1"


def event(severity="info", message="message", metadata=None, controller="source-controller") -> Event:
    return Event(
        involved_object=ObjectRef(kind="GitRepository", namespace="gitops-system", name="webapp",
                                  api_version="source.toolkit.fluxcd.io/v1"),
        severity=severity,
        timestamp=datetime(2022, 9, 30, 6, 40, 29, tzinfo=UTC),
        message=message,
        reason="ReconciliationSucceeded",
        metadata=dict(metadata or {}),
        reporting_controller=controller,
    )


def cfg(type_name, **values) -> ProviderConfig:
    return ProviderConfig(namespace="gitops-system", name="p", uid="0c9c2e41-d2f9", type=type_name, **values)


def config_error(config: ProviderConfig) -> str:
    with pytest.raises(ConfigError) as caught:
        providers.validate(config)
    return str(caught.value)


# --- §5.0 URL check ---------------------------------------------------------------------------------


@pytest.mark.parametrize("address", ["not a url", "invalid-url", "foo/bar", "hooks.slack.com/services/x", "1http://h", "?q"])
def test_url_check_rejects_relative_references(address):
    assert url_error(address) == f'parse "{address}": invalid URI for request'


@pytest.mark.parametrize("address", ["/hook", "mailto:x", "http://h", "https://hooks.slack.com/services/T/B/X?a=b&c=d",
                                     "http://127.0.0.1:8080/x", "http://[::1]:80/x", "http://h:/", "urn:x:y",
                                     "http://user:pass@h:1/p", "https://h/path with space"])
def test_url_check_accepts(address):
    assert url_error(address) is None


def test_url_check_empty():
    assert url_error("") == 'parse "": empty url'


@pytest.mark.parametrize("address", ["http://h/\x01", "\x00", "http://h/a\nb", "http://h/\x1f", "http://h/\x7f", "\t/x"])
def test_url_check_control_characters(address):
    error = url_error(address)
    assert error is not None
    assert error.startswith('parse "')
    assert error.endswith(": net/url: invalid control character in URL")


def test_url_check_control_character_quoted_like_go():
    assert url_error("http://h/\x01") == 'parse "http://h/\\x01": net/url: invalid control character in URL'
    assert url_error("http://h/\x7f") == 'parse "http://h/\\x7f": net/url: invalid control character in URL'


def test_url_check_bad_host():
    assert url_error("https://bad url") == 'parse "https://bad url": invalid character " " in host name'
    assert url_error("https://bad url/x") is not None


def test_url_check_non_numeric_port():
    assert url_error("http://h:80x") == 'parse "http://h:80x": invalid port ":80x" after host'


def test_require_url_fills_the_template():
    with pytest.raises(ConfigError) as caught:
        require_url("foo/bar", "bad {address}: <{error}>")
    assert str(caught.value) == 'bad foo/bar: <parse "foo/bar": invalid URI for request>'
    require_url("http://h", "{address}{error}")  # no error


def test_canonical_header():
    assert canonical_header("x-signature") == "X-Signature"
    assert canonical_header("gotk-component") == "Gotk-Component"
    assert canonical_header("CONTENT-TYPE") == "Content-Type"
    assert canonical_header("x-api-key") == "X-Api-Key"
    assert canonical_header("bad header") == "bad header"  # invalid names are kept as they are


def test_merge_headers_later_wins_case_insensitively():
    merged = merge_headers({"Content-Type": "application/json", "gotk-component": "a"},
                           {"content-type": "text/plain", "X-One": "1"}, {"GOTK-COMPONENT": "b"})
    assert merged == {"Content-Type": "text/plain", "Gotk-Component": "b", "X-One": "1"}


# --- §5.5 generic -------------------------------------------------------------------------------------


def test_generic_info_event_with_metadata_exact_request():
    evt = event(metadata={"revision": "main@sha1:abc", "summary": "<b>&"})
    [request] = providers.encode(evt, cfg("generic", address="https://h.example/hook?a=1"))
    assert request.method == "POST"
    assert request.url == "https://h.example/hook?a=1"
    assert request.headers == {"Content-Type": "application/json", "Gotk-Component": "source-controller"}
    assert request.body == (
        b'{"involvedObject":{"kind":"GitRepository","namespace":"gitops-system","name":"webapp",'
        b'"apiVersion":"source.toolkit.fluxcd.io/v1"},"severity":"info","timestamp":"2022-09-30T06:40:29Z",'
        b'"message":"message","reason":"ReconciliationSucceeded","metadata":{"revision":"main@sha1:abc",'
        b'"summary":"\\u003cb\\u003e\\u0026"},"reportingController":"source-controller"}'
    )


def test_generic_error_event_without_metadata_and_empty_controller():
    evt = event(severity="error", message="line1\nline2", controller="")
    [request] = providers.encode(evt, cfg("generic", address="http://h"))
    assert request.headers == {"Content-Type": "application/json", "Gotk-Component": ""}
    assert request.body == evt.go_json().encode()
    assert b'"metadata"' not in request.body
    assert b'"message":"line1\\nline2"' in request.body


def test_generic_user_headers_override_defaults_and_pass_x_signature():
    headers = {"content-type": "text/plain", "gotk-component": "mine", "X-Signature": "user", "Authorization": "Bearer x"}
    [request] = providers.encode(event(), cfg("generic", address="http://h", headers=headers))
    assert request.headers == {"Content-Type": "text/plain", "Gotk-Component": "mine", "X-Signature": "user",
                               "Authorization": "Bearer x"}


@pytest.mark.parametrize("address", ["", "not a url", "foo/bar"])
def test_generic_invalid_address_text(address):
    error = url_error(address)
    assert config_error(cfg("generic", address=address)) == f"invalid hook URL {address}: {error}"


def test_generic_empty_address_exact_text():
    assert config_error(cfg("generic")) == 'invalid hook URL : parse "": empty url'


# --- §5.6 generic-hmac --------------------------------------------------------------------------------


def test_generic_hmac_spec_example_signature():
    evt = parse_event(SPEC_JSON)
    config = cfg("generic-hmac", address="https://receiver.example/hook", token=SPEC_KEY)
    providers.validate(config)
    [request] = providers.encode(evt, config)
    assert request.body == SPEC_JSON.encode()
    assert request.headers == {"Content-Type": "application/json", "Gotk-Component": "source-controller",
                               "X-Signature": SPEC_SIGNATURE}


def test_generic_hmac_signs_exact_body_and_overrides_user_signature():
    evt = event(severity="error", metadata={"é": "ü", "a": "<"})
    config = cfg("generic-hmac", address="http://h", token=" key with spaces ",
                 headers={"x-signature": "forged", "X-Extra": "1", "Content-Type": "application/cloudevents+json"})
    [request] = providers.encode(evt, config)
    expected = "sha256=" + hmac.new(b" key with spaces ", request.body, hashlib.sha256).hexdigest()
    assert request.headers == {"Content-Type": "application/cloudevents+json", "Gotk-Component": "source-controller",
                               "X-Signature": expected, "X-Extra": "1"}
    assert request.body == evt.go_json().encode("utf-8")
    assert generic_hmac.signature(" key with spaces ", request.body) == expected


def test_generic_hmac_empty_key():
    assert config_error(cfg("generic-hmac", address="http://h")) == "HMAC key is empty"
    assert config_error(cfg("generic-hmac", address="http://h", token="")) == "HMAC key is empty"


def test_generic_hmac_bad_url_uses_generic_text():
    assert config_error(cfg("generic-hmac", address="invalid-url", token="k")) == (
        'invalid hook URL invalid-url: parse "invalid-url": invalid URI for request')


# --- §5.1 slack ---------------------------------------------------------------------------------------


def slack_body(request) -> dict:
    return json.loads(request.body)


def test_slack_info_event_with_metadata_exact_request():
    evt = event(message="first line\nsecond line", metadata={"revision": "main@sha1:abc", "env": "prod", "Z": "z"})
    [request] = providers.encode(evt, cfg("slack", address=HOOK, channel="#general", username="flux-bot",
                                          token="xoxb-123"))
    assert request.method == "POST"
    assert request.url == HOOK
    assert request.headers == {"Content-Type": "application/json", "Authorization": "Bearer xoxb-123"}
    assert slack_body(request) == {
        "channel": "#general",
        "username": "flux-bot",
        "icon_url": "",
        "icon_emoji": "",
        "attachments": [{
            "fallback": f"{OBJ_DOT}: first line",
            "color": "good",
            "author_name": OBJ_DOT,
            "text": "first line\nsecond line",
            "mrkdwn_in": ["text"],
            "fields": [
                {"title": "Z", "value": "z", "short": False},
                {"title": "env", "value": "prod", "short": False},
                {"title": "revision", "value": "main@sha1:abc", "short": False},
            ],
        }],
    }


def test_slack_error_event_without_metadata_or_token():
    [request] = providers.encode(event(severity="error", message="boom"), cfg("slack", address=HOOK))
    assert request.headers == {"Content-Type": "application/json"}
    body = slack_body(request)
    assert body["channel"] == ""
    assert body["username"] == "source-controller"  # defaults to reportingController
    assert "text" not in body
    [attachment] = body["attachments"]
    assert attachment["color"] == "danger"
    assert attachment["fallback"] == f"{OBJ_DOT}: boom"
    assert attachment["fields"] == []
    assert b'"fields":[]' in request.body


@pytest.mark.parametrize("severity", ["info", "trace", "bogus", "", "Error"])
def test_slack_only_error_is_danger(severity):
    [request] = providers.encode(event(severity=severity), cfg("slack", address=HOOK))
    assert slack_body(request)["attachments"][0]["color"] == "good"


def test_slack_body_is_go_json():
    [request] = providers.encode(event(message="<a & b>"), cfg("slack", address=HOOK))
    assert b'"text":"\\u003ca \\u0026 b\\u003e"' in request.body
    assert request.body.startswith(b'{"channel":"","username":"source-controller","icon_url":"","icon_emoji":"",')


def test_slack_fallback_with_empty_message_and_leading_newline():
    [request] = providers.encode(event(message="\nrest"), cfg("slack", address=HOOK))
    assert slack_body(request)["attachments"][0]["fallback"] == f"{OBJ_DOT}: "


@pytest.mark.parametrize("address", ["", "not a url", "foo/bar", "https://bad url"])
def test_slack_invalid_address_text(address):
    assert config_error(cfg("slack", address=address)) == f"invalid Slack hook URL {address}: '{url_error(address)}'"


def test_slack_empty_address_exact_text():
    assert config_error(cfg("slack")) == "invalid Slack hook URL : 'parse \"\": empty url'"


# chat.postMessage validation (§5.1)


def test_chat_post_message_ok_true():
    assert slack.check_chat_post_message(Response(200, {}, b'{"ok":true}')) is None
    # the HTTP status is not checked
    assert slack.check_chat_post_message(Response(400, {}, b'{"ok":true,"warning":"x"}')) is None


def test_chat_post_message_ok_false():
    with pytest.raises(DeliveryError) as caught:
        slack.check_chat_post_message(Response(200, {}, b'{"ok":false,"error":"channel_not_found"}'))
    assert str(caught.value) == "request failed: Slack responded with error: channel_not_found"
    assert caught.value.retryable is False


@pytest.mark.parametrize("body", [b"", b"not json", b"<html>", b"[1"])
def test_chat_post_message_undecodable(body):
    with pytest.raises(DeliveryError) as caught:
        slack.check_chat_post_message(Response(200, {}, body))
    assert str(caught.value).startswith("request failed: unable to unmarshal response body: ")
    assert caught.value.retryable is False


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_chat_post_message_retryable_statuses(status):
    with pytest.raises(DeliveryError) as caught:
        slack.check_chat_post_message(Response(status, {"Retry-After": "7"}, b'{"ok":true}'))
    assert caught.value.retryable is True
    assert str(caught.value).startswith(f"the server answered {status} ")


def test_chat_post_message_501_is_permanent():
    with pytest.raises(DeliveryError) as caught:
        slack.check_chat_post_message(Response(501, {}, b"nope"))
    assert caught.value.retryable is False


def test_chat_post_message_missing_ok_is_false():
    with pytest.raises(DeliveryError) as caught:
        slack.check_chat_post_message(Response(200, {}, b'{"error":"invalid_auth"}'))
    assert str(caught.value) == "request failed: Slack responded with error: invalid_auth"


@pytest.mark.parametrize("body", [b'{"ok":"false","error":"x"}', b'{"ok":1}'])
def test_chat_post_message_non_bool_ok_is_unmarshal_error(body):
    with pytest.raises(DeliveryError) as caught:
        slack.check_chat_post_message(Response(200, {}, body))
    assert str(caught.value).startswith("request failed: unable to unmarshal response body: ")


def test_slack_deliver_to_webhook(sink):
    sink.respond(200, "ok")
    sink.respond(400, "invalid_payload")
    config = cfg("slack", address=sink.url + "/services/T/B/X?q=1", token="xoxb-1")
    slack.deliver(event(metadata={"a": "b"}), config, Transport())
    [captured] = sink.wait_for(1)
    assert (captured.method, captured.path) == ("POST", "/services/T/B/X?q=1")
    assert captured.header("Authorization") == "Bearer xoxb-1"
    assert captured.header("Content-Type") == "application/json"
    assert captured.json()["attachments"][0]["fields"] == [{"title": "a", "value": "b", "short": False}]
    with pytest.raises(DeliveryError) as caught:
        slack.deliver(event(), config, Transport())
    assert re.fullmatch(r"POST http://127\.0\.0\.1:\d+/… answered 400 Bad Request: invalid_payload", str(caught.value))
    assert caught.value.retryable is False


def test_slack_deliver_chat_post_message_ok_false(sink, monkeypatch):
    # the real address cannot be reached from a test: point the constant at the local server
    address = sink.url + "/api/chat.postMessage"
    monkeypatch.setattr(slack, "CHAT_POST_MESSAGE", address)
    sink.respond(200, {"ok": False, "error": "not_in_channel"})
    sink.respond(200, {"ok": True})
    config = cfg("slack", address=address, token="xoxb-1", channel="C123")
    with pytest.raises(DeliveryError) as caught:
        slack.deliver(event(), config, Transport())
    assert str(caught.value) == "request failed: Slack responded with error: not_in_channel"
    slack.deliver(event(), config, Transport())
    assert [r.json()["channel"] for r in sink.wait_for(2)] == ["C123", "C123"]


# --- through the dispatcher ----------------------------------------------------------------------------


def manifests(sink_url: str) -> str:
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: hook, namespace: gitops-system}}
stringData:
  token: {SPEC_KEY}
  headers: |
    X-Team: platform
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: receiver, namespace: gitops-system}}
spec:
  type: generic-hmac
  address: {sink_url}/flux
  secretRef: {{name: hook}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: chat, namespace: gitops-system}}
spec:
  type: slack
  address: {sink_url}/services/T/B/X
  channel: ops
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: to-receiver, namespace: gitops-system}}
spec:
  providerRef: {{name: receiver}}
  summary: cluster prod
  eventSources: [{{kind: GitRepository, name: "*"}}]
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: to-chat, namespace: gitops-system}}
spec:
  providerRef: {{name: chat}}
  eventSources: [{{kind: GitRepository, name: webapp}}]
"""


RAW = {
    "involvedObject": {"kind": "GitRepository", "namespace": "gitops-system", "name": "webapp",
                       "apiVersion": "source.toolkit.fluxcd.io/v1"},
    "severity": "info",
    "timestamp": "2022-09-30T06:40:29Z",
    "message": "stored artifact",
    "reason": "NewArtifact",
    "metadata": {"source.toolkit.fluxcd.io/revision": "main@sha1:abc", "source.toolkit.fluxcd.io/token": "t1",
                 "source.toolkit.fluxcd.io/checksum": "x", "other/key": "dropped"},
    "reportingController": "source-controller",
}


def test_dispatch_generic_hmac_and_slack_end_to_end(sink):
    report = dispatch(manifests(sink.url), RAW)
    assert sorted(report.delivered) == ["gitops-system/chat", "gitops-system/receiver"]
    assert report.dead_letters == [] and report.retries == []
    by_path = {r.path: r for r in sink.wait_for(2)}
    hooked = by_path["/flux"]
    expected = (
        b'{"involvedObject":{"kind":"GitRepository","namespace":"gitops-system","name":"webapp",'
        b'"apiVersion":"source.toolkit.fluxcd.io/v1"},"severity":"info","timestamp":"2022-09-30T06:40:29Z",'
        b'"message":"stored artifact","reason":"NewArtifact","metadata":{"revision":"main@sha1:abc",'
        b'"summary":"cluster prod"},"reportingController":"source-controller"}'
    )
    assert hooked.body == expected
    assert hooked.header("X-Signature") == "sha256=" + hmac.new(SPEC_KEY.encode(), expected, hashlib.sha256).hexdigest()
    assert hooked.header("Gotk-Component") == "source-controller"
    assert hooked.header("X-Team") == "platform"
    chat = by_path["/services/T/B/X"].json()
    assert chat["channel"] == "ops"
    assert chat["attachments"][0]["fields"] == [{"title": "revision", "value": "main@sha1:abc", "short": False}]


def test_dispatch_commit_status_update_skips_slack_but_not_generic(sink):
    raw = {**RAW, "metadata": {"source.toolkit.fluxcd.io/commit_status": "update"}}
    report = dispatch(manifests(sink.url), raw)
    assert report.delivered == ["gitops-system/receiver"]
    assert list(report.skipped) == ["gitops-system/chat"]
    [captured] = sink.wait_for(1)
    assert captured.path == "/flux"
    assert captured.json()["metadata"] == {"commit_status": "update", "summary": "cluster prod"}


# --- fluxnotify render ----------------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


RENDER_YAML = f"""
apiVersion: v1
kind: Secret
metadata: {{name: hmac, namespace: apps}}
data:
  token: {b64(SPEC_KEY)}
---
apiVersion: v1
kind: Secret
metadata: {{name: slack-bot, namespace: apps}}
stringData:
  token: xoxb-secret
  address: " https://hooks.slack.com/services/T/B/X "
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: hmac, namespace: apps}}
spec: {{type: generic-hmac, address: "https://receiver.example/hook", secretRef: {{name: hmac}}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Provider
metadata: {{name: slack, namespace: apps}}
spec: {{type: slack, channel: ops, secretRef: {{name: slack-bot}}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta1
kind: Provider
metadata: {{name: broken, namespace: apps}}
spec: {{type: generic, address: "not a url"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: nokey, namespace: apps}}
spec: {{type: generic-hmac, address: "https://receiver.example/hook"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: slack-alert, namespace: apps}}
spec:
  providerRef: {{name: slack}}
  summary: prod cluster
  eventMetadata: {{env: prod}}
  eventSources: [{{kind: Kustomization, name: "*"}}]
"""

RENDER_EVENT = {
    "involvedObject": {"kind": "Kustomization", "namespace": "apps", "name": "podinfo",
                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
    "severity": "error",
    "timestamp": "2024-01-02T03:04:05.678+01:00",
    "message": "health check failed\ndetails",
    "reason": "HealthCheckFailed",
    "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
                 "kustomize.toolkit.fluxcd.io/token": "internal"},
    "reportingController": "kustomize-controller",
}


def test_render_one_result_per_provider_in_file_order():
    results = json.loads(json.dumps(render(load_yaml(RENDER_YAML), parse_event(json.dumps(RENDER_EVENT)))))
    assert [(r["provider"], r["type"]) for r in results] == [
        ("apps/hmac", "generic-hmac"), ("apps/slack", "slack"), ("apps/broken", "generic"),
        ("apps/nokey", "generic-hmac")]
    hmac_result, slack_result, broken, nokey = results

    assert (hmac_result["skipped"], hmac_result["error"]) == (None, None)
    [delivery] = hmac_result["deliveries"]
    raw = (
        '{"involvedObject":{"kind":"Kustomization","namespace":"apps","name":"podinfo",'
        '"apiVersion":"kustomize.toolkit.fluxcd.io/v1"},"severity":"error","timestamp":"2024-01-02T02:04:05Z",'
        '"message":"health check failed\\ndetails","reason":"HealthCheckFailed",'
        '"metadata":{"revision":"main@sha1:abc"},"reportingController":"kustomize-controller"}'
    )
    assert delivery == {
        "method": "POST",
        "url": "https://receiver.example/hook",
        "headers": {
            "Content-Type": "application/json",
            "Gotk-Component": "kustomize-controller",
            "X-Signature": "sha256=" + hmac.new(SPEC_KEY.encode(), raw.encode(), hashlib.sha256).hexdigest(),
        },
        "body": json.loads(raw),
        "raw": raw,
        "proxy": None,
        "timeout": 15.0,
    }

    [delivery] = slack_result["deliveries"]
    assert delivery["url"] == "https://hooks.slack.com/services/T/B/X"  # secret address, trimmed
    assert delivery["headers"] == {"Content-Type": "application/json", "Authorization": "Bearer xoxb-secret"}
    attachment = delivery["body"]["attachments"][0]
    assert delivery["body"]["channel"] == "ops"
    assert attachment["color"] == "danger"
    assert attachment["fallback"] == "kustomization/podinfo.apps: health check failed"
    assert attachment["fields"] == [
        {"title": "env", "value": "prod", "short": False},
        {"title": "revision", "value": "main@sha1:abc", "short": False},
        {"title": "summary", "value": "prod cluster", "short": False},
    ]
    assert json.loads(delivery["raw"]) == delivery["body"]

    assert broken == {"provider": "apps/broken", "type": "generic", "deliveries": [], "skipped": None,
                      "error": 'invalid hook URL not a url: parse "not a url": invalid URI for request'}
    assert nokey["error"] == "HMAC key is empty"
    assert nokey["deliveries"] == []


def test_render_skipped_by_rule():
    raw = {**RENDER_EVENT, "metadata": {"kustomize.toolkit.fluxcd.io/commit_status": "update"}}
    results = render(load_yaml(RENDER_YAML), parse_event(json.dumps(raw)))
    slack_result = results[1]
    assert slack_result["deliveries"] == []
    assert slack_result["error"] is None
    assert isinstance(slack_result["skipped"], str) and slack_result["skipped"]
    assert results[0]["skipped"] is None  # generic-hmac is not subject to the rule
    assert results[0]["deliveries"][0]["body"]["metadata"] == {"commit_status": "update"}


# --- the CLI ----------------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    executable = ROOT / ".venv" / "bin" / "fluxnotify"
    command = [str(executable), *args] if executable.exists() else [sys.executable, "-m", "fluxnotify.ops.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_cli_render_exit_codes(tmp_path):
    good = "\n---\n".join(RENDER_YAML.split("\n---\n")[:4])  # two Secrets, hmac and slack Providers
    (tmp_path / "good.yaml").write_text(good)
    (tmp_path / "all.yaml").write_text(RENDER_YAML)
    (tmp_path / "event.json").write_text(json.dumps(RENDER_EVENT))
    (tmp_path / "bad.json").write_text('{"severity": 5}')

    ok = run_cli("render", "-f", str(tmp_path / "good.yaml"), "--event", str(tmp_path / "event.json"))
    assert ok.returncode == 0, ok.stderr
    output = json.loads(ok.stdout)
    assert [r["provider"] for r in output] == ["apps/hmac", "apps/slack"]
    assert all(r["error"] is None for r in output)

    failing = run_cli("render", "-f", str(tmp_path / "all.yaml"), "--event", str(tmp_path / "event.json"))
    assert failing.returncode == 1
    assert [r["error"] is not None for r in json.loads(failing.stdout)] == [False, False, True, True]

    missing = tmp_path / "missing.yaml"
    unreadable = run_cli("render", "-f", str(missing), "--event", str(tmp_path / "event.json"))
    assert unreadable.returncode == 2
    assert unreadable.stdout == ""
    assert unreadable.stderr == f"fluxnotify: {missing}: cannot read file: No such file or directory\n"

    no_event = run_cli("render", "-f", str(tmp_path / "good.yaml"), "--event", str(tmp_path / "nope.json"))
    assert no_event.returncode == 2
    lines = no_event.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fluxnotify: {tmp_path / 'nope.json'}: ")

    bad_event = run_cli("render", "-f", str(tmp_path / "good.yaml"), "--event", str(tmp_path / "bad.json"))
    assert bad_event.returncode == 2
    assert len(bad_event.stderr.splitlines()) == 1
    assert "severity" in bad_event.stderr
