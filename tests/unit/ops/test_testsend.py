"""`fluxnotify test` (issue 24.5): one notification through the planner and the dispatcher's
send step to a capture server; what was sent, the answer, exit 0 when delivered, 1 otherwise."""

from __future__ import annotations

import io
import json
import sys

import pytest

from fluxnotify.ops.cli import main

V3 = "notification.toolkit.fluxcd.io/v1beta3"
HOOK_PATH = "/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx"


def manifests(url: str, alert_severity: str = "") -> str:
    text = f"""apiVersion: {V3}
kind: Provider
metadata: {{name: slack, namespace: flux-system}}
spec: {{type: slack, channel: ops, secretRef: {{name: hook}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: hook, namespace: flux-system}}
stringData: {{address: "{url}{HOOK_PATH}"}}
"""
    if alert_severity:  # an Alert that would not select an info event
        text += f"""---
apiVersion: {V3}
kind: Alert
metadata: {{name: errors-only, namespace: flux-system}}
spec:
  providerRef: {{name: slack}}
  eventSeverity: {alert_severity}
  eventSources: [{{kind: GitRepository, name: "*"}}]
"""
    return text


@pytest.fixture
def files(tmp_path, sink):
    path = tmp_path / "slack.yaml"
    path.write_text(manifests(sink.url))
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["test", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_delivered_prints_the_request_and_the_answer_and_exits_0(files, sink, capsys):
    sink.respond(200, "ok-from-slack")
    code, out, _ = run(capsys, "-f", files, "--provider", "flux-system/slack")
    assert code == 0, out
    (request,) = sink.requests
    assert request.path == HOOK_PATH and request.method == "POST"
    sent = request.json()
    assert sent["channel"] == "ops" and "fluxnotify test" in sent["attachments"][0]["text"]  # the sample event
    assert "sending: " in out and '"channel": "ops"' in out
    assert "200 OK: ok-from-slack" in out and out.rstrip().endswith("result: delivered")
    assert "abcdefghijklmnopqrstuvwx" not in out and "/services/*****/*****/*****" in out  # masked as render does


def test_show_secrets_prints_the_hook_path(files, sink, capsys):
    code, out, _ = run(capsys, "-f", files, "--provider", "flux-system/slack", "--show-secrets")
    assert code == 0 and HOOK_PATH in out


def test_a_500_is_a_retryable_failure_and_exits_1(files, sink, capsys):
    sink.respond(500, "upstream down")
    code, out, _ = run(capsys, "-f", files, "--provider", "flux-system/slack")
    assert code == 1
    assert "500 Internal Server Error: upstream down" in out
    assert "result: failed, retryable" in out
    assert len(sink.requests) == 1  # once: no retry


def test_a_400_is_a_permanent_failure(files, sink, capsys):
    sink.respond(400, "invalid_payload")
    code, out, _ = run(capsys, "-f", files, "--provider", "flux-system/slack")
    assert code == 1 and "result: failed, permanent" in out and "invalid_payload" in out


def test_a_missing_provider_is_named_with_those_found(files, sink, capsys):
    code, out, _ = run(capsys, "-f", files, "--provider", "flux-system/slak")
    assert code == 1
    assert out.strip() == "no Provider flux-system/slak in the files (Providers found: flux-system/slack)"
    assert sink.requests == []


def test_alert_routing_is_not_consulted(tmp_path, sink, capsys):
    path = tmp_path / "routed.yaml"
    path.write_text(manifests(sink.url, alert_severity="error"))
    code, out, _ = run(capsys, "-f", str(path), "--provider", "flux-system/slack")
    assert code == 0 and "result: delivered" in out and len(sink.requests) == 1


def test_an_event_file_and_standard_input(tmp_path, sink, capsys, monkeypatch):
    event = {"involvedObject": {"kind": "HelmRelease", "namespace": "apps", "name": "podinfo"},
             "severity": "error", "timestamp": "2026-01-01T00:00:00Z", "message": "install failed",
             "reason": "InstallFailed", "reportingController": "helm-controller"}
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(manifests(sink.url).encode()), encoding="utf-8"))
    code, out, _ = run(capsys, "-f", "-", "--provider", "flux-system/slack", "--event", str(event_path))
    assert code == 0, out
    assert sink.requests[0].json()["attachments"][0]["text"] == "install failed"
    assert "HelmRelease/apps/podinfo InstallFailed" in out


def test_a_refused_config_is_not_sent(tmp_path, sink, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text(manifests(sink.url).replace("type: slack", "type: slak"))
    code, out, _ = run(capsys, "-f", str(path), "--provider", "flux-system/slack")
    assert code == 1 and "result: failed, permanent" in out and "did you mean slack" in out
    assert sink.requests == []


def test_cluster_tags_the_event_as_the_receiver_would(files, sink, capsys):
    code, out, _ = run(capsys, "-f", files, "--provider", "flux-system/slack", "--cluster", "prod-eu")
    fields = {f["title"]: f["value"] for f in sink.requests[0].json()["attachments"][0]["fields"]}
    assert code == 0 and fields["cluster"] == "prod-eu"


def test_help_says_alert_routing_is_not_consulted(capsys):
    with pytest.raises(SystemExit):
        main(["test", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "Alert routing is not consulted" in out and "fluxnotify test -f manifests/ --provider" in out
