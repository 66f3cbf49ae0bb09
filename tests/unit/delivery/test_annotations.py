"""Reason filters, cluster selection, cluster-wide sources, --no-cross-namespace-refs and the
checks `validate` makes of every fluxnotify.io/* annotation (delivery/annotations.py)."""

from __future__ import annotations

import json
import logging

import pytest
from exthelpers import Harness, event, generic_manifests

from fluxnotify.delivery.annotations import glob_matches, go_duration
from fluxnotify.model.event import parse_event
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.render import render
from fluxnotify.ops.validate import conditions
from fluxnotify.settings import Settings


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("5m", 300), ("1h", 3600), ("1h30m", 5400),
                                               ("1.5h", 5400), ("500ms", 0.5), ("2m3.5s", 123.5)])
def test_go_durations(text, seconds):
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "m", "5d", "1h 2m", "-5m", "5M", ".s"])
def test_bad_go_durations(text):
    with pytest.raises(ValueError):
        go_duration(text)


def test_globs_are_exact_case_sensitive_and_only_star_is_special():
    assert glob_matches("HealthCheckFailed", ["Health*"])
    assert not glob_matches("healthCheckFailed", ["Health*"])
    assert not glob_matches("Progressing", ["Progress"])
    assert glob_matches("prod-eu", ["staging", "prod-*"])
    assert not glob_matches("prodX", ["prod?"]) and glob_matches("prod?", ["prod?"])
    assert not glob_matches("a", ["[a]"])


def outcome(sink_url: str, annotations: dict, data: dict, **send) -> tuple[str, str]:
    harness = Harness(generic_manifests(sink_url, annotations))
    (result,) = harness.send(data, **send)
    return result.outcome, result.detail


def test_reasons_keep_only_the_listed_reasons(sink, caplog):
    notes = {"fluxnotify.io/reasons": "ReconciliationFailed, Health*"}
    with caplog.at_level(logging.INFO):
        skipped = outcome(sink.url, notes, event(reason="ReconciliationSucceeded"))
    assert skipped == ("skipped", "fluxnotify.io/reasons: reason 'ReconciliationSucceeded' is not one of "
                                  "ReconciliationFailed, Health*")
    assert any(getattr(r, "rule", "").startswith("fluxnotify.io/reasons") for r in caplog.records)
    assert outcome(sink.url, notes, event(reason="HealthCheckFailed"))[0] == "delivered"
    assert outcome(sink.url, notes, event(reason="ReconciliationFailed"))[0] == "delivered"
    assert [r.json()["reason"] for r in sink.wait_for(2)] == ["HealthCheckFailed", "ReconciliationFailed"]


def test_exclude_reasons_win(sink):
    notes = {"fluxnotify.io/reasons": "*", "fluxnotify.io/exclude-reasons": "Progressing,*Succeeded"}
    assert outcome(sink.url, notes, event(reason="Progressing"))[0] == "skipped"
    detail = outcome(sink.url, notes, event(reason="ReconciliationSucceeded"))[1]
    assert detail.startswith("fluxnotify.io/exclude-reasons: reason 'ReconciliationSucceeded' is excluded")
    assert outcome(sink.url, notes, event(reason="BuildFailed"))[0] == "delivered"


def test_clusters_select_by_glob_on_the_envelope_cluster(sink):
    notes = {"fluxnotify.io/clusters": "prod-*,staging"}
    assert outcome(sink.url, notes, event(), cluster="prod-eu")[0] == "delivered"
    assert outcome(sink.url, notes, event(), cluster="staging")[0] == "delivered"
    skipped = outcome(sink.url, notes, event(), cluster="dev")
    assert skipped == ("skipped", "fluxnotify.io/clusters: cluster 'dev' is not one of prod-*, staging")
    assert outcome(sink.url, notes, event())[0] == "skipped"  # the unnamed cluster is 'default'
    assert len(sink.wait_for(2)) == 2


STAR = "[{kind: Kustomization, name: '*', namespace: '*'}]"


def test_star_namespace_matches_every_namespace(sink):
    harness = Harness(generic_manifests(sink.url, sources=STAR))
    for namespace in ("flux-system", "apps", "team-b"):
        harness.send(event(namespace=namespace))
    assert sorted(r.json()["involvedObject"]["namespace"] for r in sink.wait_for(3)) == [
        "apps", "flux-system", "team-b"]


def test_no_cross_namespace_refs_keeps_an_alert_to_its_namespace(sink, monkeypatch):
    sources = "[{kind: Kustomization, name: '*', namespace: '*'}, {kind: HelmRelease, name: '*', namespace: apps}]"
    harness = Harness(generic_manifests(sink.url, sources=sources), no_cross_namespace_refs=True)
    (own,) = harness.send(event(namespace="flux-system"))
    (other,) = harness.send(event(namespace="apps"))
    (helm,) = harness.send(event(namespace="apps", kind="HelmRelease"))
    assert own.outcome == "delivered"
    assert other.outcome == helm.outcome == "skipped"
    assert other.detail == (
        "discarding event, access denied to cross-namespace sources: alert 'flux-system/team' can't process "
        "event from 'Kustomization/apps/apps', cross-namespace references have been blocked")
    monkeypatch.setenv("NO_CROSS_NAMESPACE_REFS", "true")  # the environment variable does the same
    flag = Settings.from_env().no_cross_namespace_refs
    (from_env,) = Harness(generic_manifests(sink.url, sources=sources), no_cross_namespace_refs=flag).send(
        event(namespace="apps"))
    assert from_env.outcome == "skipped"
    assert len(sink.wait_for(1)) == 1


def test_render_reports_the_skip_rule():
    objects = load_yaml(generic_manifests("http://127.0.0.1:1", {"fluxnotify.io/exclude-reasons": "Reconciliation*"}))
    (result,) = render(objects, parse_event(json.dumps(event())))
    assert result["skipped"].startswith("fluxnotify.io/exclude-reasons: ")


def alert_condition(annotations: dict, *, provider_type: str = "generic", sources: str | None = None,
                    provider_annotations: dict | None = None) -> dict:
    text = generic_manifests("http://127.0.0.1:1", annotations, **({"sources": sources} if sources else {}))
    text = text.replace("type: generic-hmac", f"type: {provider_type}")
    if provider_annotations:
        text = text.replace("metadata: {name: team, namespace: flux-system}\nspec: {type",
                            "metadata: {name: team, namespace: flux-system, annotations: "
                            f"{json.dumps(provider_annotations)}}}\nspec: {{type")
    return {(c.kind): c.as_dict() for c in conditions(load_yaml(text), no_cross_namespace_refs=Settings.from_env().no_cross_namespace_refs)}


@pytest.mark.parametrize(("annotations", "expected"), [
    ({"fluxnotify.io/digest": "5 minutes"}, "fluxnotify.io/digest: '5 minutes' is not a duration"),
    ({"fluxnotify.io/digest": "100ms"}, "shorter than one second"),
    ({"fluxnotify.io/digest": "5m", "fluxnotify.io/min-events": "zero"}, "must be a whole number"),
    ({"fluxnotify.io/digest": "5m", "fluxnotify.io/min-events": "0"}, "must be a whole number"),
    ({"fluxnotify.io/min-events": "3"}, "needs fluxnotify.io/digest"),
    ({"fluxnotify.io/reasons": " , "}, "fluxnotify.io/reasons: empty list"),
    ({"fluxnotify.io/message": "{% if %}"}, "line 1"),
])
def test_validate_refuses_bad_alert_annotations(annotations, expected):
    condition = alert_condition(annotations)["Alert"]
    assert condition["status"] == "False"
    assert expected in condition["message"]


@pytest.mark.parametrize("provider_type", ["github", "gitlab", "bitbucket", "azuredevops"])
def test_validate_refuses_digests_on_commit_status_types(provider_type):
    condition = alert_condition({"fluxnotify.io/digest": "5m"}, provider_type=provider_type)["Alert"]
    assert condition["status"] == "False"
    assert f"digests are not supported for {provider_type} Providers" in condition["message"]


def test_validate_accepts_good_annotations_and_checks_threads():
    good = alert_condition({"fluxnotify.io/digest": "90s", "fluxnotify.io/min-events": "3",
                            "fluxnotify.io/reasons": "A,B*", "fluxnotify.io/clusters": "prod-*",
                            "fluxnotify.io/message": "{{ event.message }}"})
    assert good["Alert"]["status"] == "True", good
    thread = alert_condition({}, provider_annotations={"fluxnotify.io/thread": "object"})["Provider"]
    assert thread["status"] == "False" and "only supported by slack" in thread["message"]
    bad_mode = alert_condition({}, provider_annotations={"fluxnotify.io/thread": "reason"})["Provider"]
    assert "'reason' is not supported" in bad_mode["message"]


def test_validate_refuses_cross_namespace_sources_under_the_flag(monkeypatch):
    assert alert_condition({}, sources=STAR)["Alert"]["status"] == "True"
    monkeypatch.setenv("NO_CROSS_NAMESPACE_REFS", "true")
    condition = alert_condition({}, sources=STAR)["Alert"]
    assert condition["status"] == "False"
    assert "spec.eventSources[0].namespace: '*'" in condition["message"]
    assert "--no-cross-namespace-refs" in condition["message"]


def test_an_alerts_extensions_are_parsed_once_per_alert_object_and_an_error_stays_one():
    from dataclasses import replace

    from fluxnotify.delivery.annotations import AnnotationError, alert_extensions

    (alert,) = [o for o in load_yaml(generic_manifests("http://127.0.0.1:1", {"fluxnotify.io/reasons": "A, B"}))
                if o.kind == "Alert"]
    first = alert_extensions(alert)
    assert first.reasons == ("A", "B") and alert_extensions(alert) is first
    changed = replace(alert, metadata=replace(alert.metadata, annotations={"fluxnotify.io/digest": "soon"}))
    for _ in range(2):  # a new object (a new snapshot) is parsed on its own; its error is raised each time
        with pytest.raises(AnnotationError, match="fluxnotify.io/digest: 'soon' is not a duration"):
            alert_extensions(changed)
    assert alert_extensions(alert) is first
