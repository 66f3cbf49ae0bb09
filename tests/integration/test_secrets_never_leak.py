"""Known secret values go through successful, failing and dead-lettered deliveries; none
may appear in captured logs, raised error texts or dead-letter messages."""

from __future__ import annotations

import json
import logging

import pytest

from helpers import dispatch

SLACK_SECRET = "T0SECRET/B0SECRET/slackXXsecretXXpath"
BOT_TOKEN = "123456789:AAEsecretTelegramBotTokenValue_xyz"
HMAC_KEY = "hmac-key-that-must-stay-private"
URL_PASSWORD = "pr0xyPassw0rdValue"
BEARER = "xoxb-slack-bot-token-secret-0001"
SECRETS = [SLACK_SECRET, BOT_TOKEN, HMAC_KEY, URL_PASSWORD, BEARER, "slackXXsecretXXpath"]

EVENT = {
    "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps",
                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
    "severity": "error", "timestamp": "2026-11-25T10:00:00Z", "message": "health check failed",
    "reason": "HealthCheckFailed", "reportingController": "kustomize-controller",
}


def manifests(base: str) -> str:
    def provider(name: str, type_: str, spec: str = "") -> str:
        return f"""---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: {name}, namespace: flux-system}}
spec: {{type: {type_}, secretRef: {{name: {name}}}{spec}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: {name}, namespace: flux-system}}
spec:
  providerRef: {{name: {name}}}
  eventSources: [{{kind: Kustomization, name: "*"}}]
"""

    def secret(name: str, data: dict) -> str:
        return f"""---
apiVersion: v1
kind: Secret
metadata: {{name: {name}, namespace: flux-system}}
stringData: {json.dumps(data)}
"""

    return "".join([
        provider("slack-hook", "slack"), secret("slack-hook", {"address": f"{base}/services/{SLACK_SECRET}"}),
        provider("slack-bot", "slack", ", channel: ops"),
        secret("slack-bot", {"address": f"{base}/api/chat", "token": BEARER}),
        provider("telegram", "telegram", ", channel: '-100123'"), secret("telegram", {"token": BOT_TOKEN}),
        provider("hmac", "generic-hmac"), secret("hmac", {"address": f"{base}/hmac", "token": HMAC_KEY}),
        provider("proxied", "generic"),
        secret("proxied", {"address": f"{base}/proxied", "proxy": f"http://user:{URL_PASSWORD}@127.0.0.1:1"}),
    ])


def assert_clean(report, caplog):
    texts = [json.dumps(report.dead_letters), json.dumps(report.retries)]
    texts += [r.detail for r in report.results]
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(json.dumps({k: str(v) for k, v in record.__dict__.items()}))
    blob = "\n".join(texts)
    for secret in SECRETS:
        assert secret not in blob, f"secret {secret[:6]}… leaked"


@pytest.fixture(autouse=True)
def telegram_to_sink(sink, monkeypatch):
    monkeypatch.setenv("TELEGRAM_API_URL", sink.url)


def test_successful_deliveries_log_no_secret(sink, caplog):
    caplog.set_level(logging.DEBUG, logger="fluxnotify")
    report = dispatch(manifests(sink.url), EVENT)
    assert sorted(report.delivered) == ["flux-system/hmac", "flux-system/slack-bot",
                                        "flux-system/slack-hook", "flux-system/telegram"]
    assert any(BOT_TOKEN in r.path for r in sink.requests)  # the token really was used
    assert_clean(report, caplog)


def test_failures_echoing_secrets_are_redacted_everywhere(sink, caplog):
    caplog.set_level(logging.DEBUG, logger="fluxnotify")
    # A hostile or chatty endpoint echoes the request path and headers back in its error.
    sink.handler = lambda r: (400, {}, f"bad request to {r.path} auth={r.header('Authorization')} "
                                       f"sig={r.header('X-Signature')}".encode())
    report = dispatch(manifests(sink.url), EVENT)
    assert len(report.dead_letters) == 4
    assert all("*****" in letter["error"] for letter in report.dead_letters)
    assert_clean(report, caplog)


def test_transport_errors_and_retries_carry_no_secret(caplog):
    caplog.set_level(logging.DEBUG, logger="fluxnotify")
    report = dispatch(manifests("http://127.0.0.1:1"), EVENT)
    failed = [r for r in report.results if r.outcome != "delivered"]
    assert len(failed) == 4 and all(r.outcome == "retry" and r.detail for r in failed)
    assert "flux-system/proxied" in report.retries[0]["targets"]
    assert_clean(report, caplog)
