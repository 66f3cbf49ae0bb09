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


def render_cli(tmp_path, capsys, manifests: str, *args: str) -> tuple[int, list[dict]]:
    files = tmp_path / "m.yaml"
    files.write_text(manifests)
    path = tmp_path / "e.json"
    path.write_text(json.dumps(EVENT))
    code = main(["render", "-f", str(files), "--event", str(path), *args])
    return code, json.loads(capsys.readouterr().out)


def test_a_missing_provider_is_an_error_and_exit_1(tmp_path, capsys):
    """Issue 22: serve dead-letters it; render used to show nothing wrong."""
    code, results = render_cli(tmp_path, capsys, HOOK + alert("a", "gone"))
    assert code == 1
    assert results[-1] == {"provider": "flux-system/gone", "type": None, "deliveries": [], "skipped": None,
                           "error": "failed to read provider: Provider 'flux-system/gone' not found",
                           "alert": "flux-system/a"}


def test_a_severity_mismatch_is_explained_for_every_namespace(tmp_path, capsys):
    text = HOOK + alert("a", "hook", "  eventSeverity: error\n", sources='[{kind: Kustomization, name: "*", namespace: "*"}]')
    code, (result,) = render_cli(tmp_path, capsys, text)
    assert code == 0
    assert result["skipped"] == ("no Alert selects the event: Alert flux-system/a: eventSeverity error does not "
                                 "select severity 'info'")


def test_a_failing_template_is_an_error_of_the_delivery(tmp_path, capsys):
    text = HOOK + alert("a", "hook").replace("metadata: {name: a, namespace: flux-system}",
                                             'metadata: {name: a, namespace: flux-system, annotations: '
                                             '{"fluxnotify.io/message": "{{ event.nope.deeper }}"}}')
    code, (result,) = render_cli(tmp_path, capsys, text)
    assert code == 1
    assert result["template_error"].startswith("UndefinedError")
    assert result["error"] == f"message template failed: {result['template_error']}"
    assert result["deliveries"][0]["body"]["message"] == "reconciliation finished"  # what serve sends


def test_render_as_a_named_cluster(tmp_path, capsys):
    text = HOOK + alert("a", "hook").replace("metadata: {name: a, namespace: flux-system}",
                                             'metadata: {name: a, namespace: flux-system, annotations: '
                                             '{"fluxnotify.io/clusters": "prod-*"}}')
    code, (skipped,) = render_cli(tmp_path, capsys, text)
    assert skipped["skipped"] == "fluxnotify.io/clusters: cluster 'default' is not one of prod-*"
    code, (routed,) = render_cli(tmp_path, capsys, text, "--cluster", "prod-eu")
    assert code == 0 and routed["skipped"] is None
    assert routed["deliveries"][0]["body"]["metadata"] == {"cluster": "prod-eu"}  # as the receiver tags it
