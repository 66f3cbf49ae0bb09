"""`render` tells the truth (issue 12.7): Alerts that would not select the event skip their
Provider with the rule, events the receiver refuses are refused, unsupported types say so,
and each HTTP delivery shows its proxy and timeout."""

from __future__ import annotations

import json

import pytest

from fluxnotify.model.event import parse_event
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.cli import main
from fluxnotify.ops.render import render

EVENT = {
    "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps",
                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
    "severity": "info", "timestamp": "2026-11-25T10:00:00Z", "message": "reconciliation finished",
    "reason": "ReconciliationSucceeded", "reportingController": "kustomize-controller",
}


def provider(name: str, spec: str) -> str:
    return f"""---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: {name}, namespace: flux-system}}
spec: {spec}
"""


def alert(name: str, provider_name: str, extra: str = "", sources: str = '[{kind: Kustomization, name: "*"}]') -> str:
    return f"""---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: {name}, namespace: flux-system}}
spec:
  providerRef: {{name: {provider_name}}}
  eventSources: {sources}
{extra}"""


def one(manifests: str, event: dict | None = None) -> dict:
    (result,) = render(load_yaml(manifests), parse_event(json.dumps(event or EVENT)))
    return result


HOOK = provider("hook", '{type: generic, address: "https://hooks.example/x"}')


@pytest.mark.parametrize("alert_text, reason", [
    (alert("a", "hook", "  eventSeverity: error\n"), "Alert flux-system/a: eventSeverity error does not select severity 'info'"),
    (alert("a", "hook", sources="[{kind: HelmRelease, name: '*'}]"),
     "Alert flux-system/a: no event source matches Kustomization/flux-system/apps (sources: HelmRelease/flux-system/*)"),
    (alert("a", "hook", "  suspend: true\n"), "Alert flux-system/a is suspended"),
    (alert("a", "hook", "  exclusionList: ['finished$']\n"),
     "Alert flux-system/a: the message matches exclusionList pattern 'finished$'"),
    (alert("a", "hook", "  inclusionList: ['^failed']\n"), "Alert flux-system/a: the message matches no inclusionList pattern"),
])  # fmt: skip
def test_alert_that_would_not_match_skips_with_the_rule(alert_text, reason):
    result = one(HOOK + alert_text)
    assert result["deliveries"] == [] and result["error"] is None
    assert result["skipped"] == f"no Alert selects the event: {reason}"


def test_one_matching_alert_is_enough():
    result = one(HOOK + alert("a", "hook", "  eventSeverity: error\n") + alert("b", "hook", "  summary: hi\n"))
    assert result["skipped"] is None
    assert result["deliveries"][0]["body"]["metadata"] == {"summary": "hi"}


def test_provider_without_alert_renders_as_if_routed():
    assert one(HOOK)["deliveries"][0]["url"] == "https://hooks.example/x"


def test_unsupported_type_is_an_error_not_a_skip():
    update = {**EVENT, "metadata": {"kustomize.toolkit.fluxcd.io/commit_status": "update"}}
    result = one(provider("odd", '{type: carrier-pigeon, address: "https://x.example/"}'), update)
    assert result["skipped"] is None
    assert result["error"] == "failed to initialize notifier: provider carrier-pigeon not supported"


def test_delivery_shows_proxy_and_timeout(monkeypatch):
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    proxied = provider("p", '{type: generic, address: "https://h.example/", proxy: "http://proxy.example:3128", timeout: 1m30s}')
    direct = provider("d", '{type: generic, address: "https://h.example/"}')
    results = render(load_yaml(proxied + direct), parse_event(json.dumps(EVENT)))
    assert [(r["deliveries"][0]["proxy"], r["deliveries"][0]["timeout"]) for r in results] == [
        ("http://proxy.example:3128", 90.0), (None, 15.0)]
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy.example:8080")
    (result,) = render(load_yaml(direct), parse_event(json.dumps(EVENT)))
    assert result["deliveries"][0]["proxy"] == "http://env-proxy.example:8080"
    sentry = provider("s", '{type: sentry, address: "https://key@o1.ingest.sentry.io/1", proxy: "http://p.example:1"}')
    (result,) = render(load_yaml(sentry), parse_event(json.dumps({**EVENT, "severity": "error"})))
    assert result["deliveries"][0]["proxy"] is None  # sentry ignores proxies (spec §3.5)


def test_render_refuses_what_the_receiver_refuses(tmp_path, capsys):
    manifests = tmp_path / "m.yaml"
    manifests.write_text(HOOK)
    event = tmp_path / "e.json"
    event.write_text(json.dumps({**EVENT, "severity": "bogus"}))
    assert main(["render", "-f", str(manifests), "--event", str(event)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"fluxnotify: {event}: the receiver refuses this event with 400: "
                   "severity 'bogus' is not one of trace, info, error\n")
