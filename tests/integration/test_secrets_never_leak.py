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


# --- planted cases (issue 13.5): every form a secret takes on the way out ---------------------

MISTYPED_PATH = "T9MISTYPED/B9MISTYPED/mistypedXXsecretXXpath"
BASIC_USER, BASIC_PASSWORD = "deploy-bot", "basicPassw0rdValue"
BITBUCKET_TOKEN = "bb-user:bbAppPassw0rdValue"
AZURE_PAT = "azurePatValue0123456789"
HEADER_LINES = ("first-line-secret-0001", "second-line-secret-0002")
PLANTED = [MISTYPED_PATH, *MISTYPED_PATH.split("/"), BASIC_PASSWORD, BITBUCKET_TOKEN, AZURE_PAT, *HEADER_LINES]


def basic(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


PLANTED_FORMS = PLANTED + [basic(f"{BASIC_USER}:{BASIC_PASSWORD}"), basic(BITBUCKET_TOKEN), basic(":" + AZURE_PAT)]
GIT_EVENT = {**EVENT, "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:" + "a" * 40}}


def planted_manifests(base: str) -> str:
    def pair(name: str, spec: str, data: dict) -> str:
        return f"""---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: {name}, namespace: flux-system}}
spec: {{secretRef: {{name: {name}}}, {spec}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: {name}, namespace: flux-system}}
spec:
  providerRef: {{name: {name}}}
  eventSources: [{{kind: Kustomization, name: "*"}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: {name}, namespace: flux-system}}
stringData: {json.dumps(data)}
"""

    host = base.split("://", 1)[1]
    headers = f"X-Api-Key: |\n  {HEADER_LINES[0]}\n  {HEADER_LINES[1]}\n"
    return "".join([
        pair("mistyped-scheme", "type: slack", {"address": f"https//hooks.slack.com/services/{MISTYPED_PATH}"}),
        pair("mistyped-port", "type: slack", {"address": f"http://{host}:{MISTYPED_PATH}"}),
        pair("alertmanager", f"type: alertmanager, address: '{base}/api/v2/alerts'",
             {"username": BASIC_USER, "password": BASIC_PASSWORD}),
        pair("bitbucket", "type: bitbucket, address: 'https://bitbucket.org/owner/repo'", {"token": BITBUCKET_TOKEN}),
        pair("azuredevops", f"type: azuredevops, address: '{base}/org/proj/_git/repo'", {"token": AZURE_PAT}),
        pair("multiline-header", f"type: generic, address: '{base}/hook'", {"headers": headers}),
    ])


def assert_no_planted(blob: str) -> None:
    for secret in PLANTED_FORMS:
        assert secret not in blob, f"secret form {secret[:8]}… leaked"


def test_planted_secrets_never_leak_from_deliveries(sink, caplog, monkeypatch):
    monkeypatch.setenv("BITBUCKET_API_BASE_URL", sink.url)
    caplog.set_level(logging.DEBUG, logger="fluxnotify")
    # The endpoint echoes the credentials it got, as a chatty error page would.
    sink.handler = lambda r: (400, {}, f"denied for {r.header('Authorization')} key={r.header('X-Api-Key')}".encode())
    report = dispatch(planted_manifests(sink.url), GIT_EVENT)
    assert {letter["provider"] for letter in report.dead_letters} >= {
        "flux-system/mistyped-scheme", "flux-system/alertmanager", "flux-system/bitbucket",
        "flux-system/azuredevops"}, report.results
    echoed = [r.header("Authorization") for r in sink.requests if r.header("Authorization")]
    assert any(basic(BITBUCKET_TOKEN) in value for value in echoed)  # the planted forms really went out
    texts = [json.dumps(report.dead_letters), json.dumps(report.retries), *(r.detail for r in report.results)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [json.dumps({k: str(v) for k, v in record.__dict__.items()}) for record in caplog.records]
    assert_no_planted("\n".join(texts))

    from fluxnotify.ops.replay import describe

    assert_no_planted(json.dumps([describe(json.dumps(letter)) for letter in report.dead_letters]))


def test_planted_secrets_never_leak_from_validate(tmp_path, capsys):
    from fluxnotify.ops.cli import main

    path = tmp_path / "planted.yaml"
    path.write_text(planted_manifests("http://127.0.0.1:1"))
    code = main(["validate", "-f", str(path), "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 1 and "mistyped-scheme" in out
    assert_no_planted(out + err)


def test_an_unexpected_error_quoting_a_secret_is_logged_redacted(sink, caplog, monkeypatch):
    from fluxnotify import providers

    def broken(event, cfg, transport):
        raise RuntimeError(f"bug while posting to {cfg.address}")

    monkeypatch.setattr(providers, "deliver", broken)
    caplog.set_level(logging.DEBUG, logger="fluxnotify")
    report = dispatch(manifests(sink.url), EVENT)
    assert report.retries and all(r.outcome == "retry" for r in report.results)
    tracebacks = [str(getattr(r, "traceback", "")) for r in caplog.records]
    assert any("RuntimeError: bug while posting to" in t for t in tracebacks)  # still says what broke
    assert_clean(report, caplog)
