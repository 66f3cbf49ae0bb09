"""Stage resolve (Provider fluxnotify.io/resolve): an error opens, recovery resolves (Opsgenie on a
capture server; Alertmanager against the real one is in tests/integration)."""

from __future__ import annotations

import hashlib
import json

import pytest
from exthelpers import Harness, V, event

from fluxnotify.model.event import parse_event
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.render import render
from fluxnotify.ops.validate import conditions
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.incidents import SqliteIncidents
from fluxnotify.state.stores import Stores

KEY = "genie-key-5c1e"


def manifests(address: str, resolve: str | None = "true", provider_type: str = "opsgenie") -> str:
    notes = json.dumps({"fluxnotify.io/resolve": resolve} if resolve is not None else {})
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: genie, namespace: flux-system}}
stringData: {{token: {KEY}}}
---
apiVersion: {V}
kind: Provider
metadata: {{name: oncall, namespace: flux-system, uid: prov-uid, annotations: {notes}}}
spec: {{type: {provider_type}, address: "{address}", secretRef: {{name: genie}}}}
---
apiVersion: {V}
kind: Alert
metadata: {{name: oncall, namespace: flux-system}}
spec:
  providerRef: {{name: oncall}}
  eventSources: [{{kind: Kustomization, name: '*'}}]
"""


def failed(name: str = "apps", reason: str = "HealthCheckFailed") -> dict:
    return event(name, severity="error", reason=reason, message="health check failed")


def alias(name: str, reason: str) -> str:
    return hashlib.sha256(f"prov-uid/Kustomization/flux-system/{name}/{reason}".encode()).hexdigest()


def test_an_error_opens_and_recovery_closes_by_alias_with_the_same_auth(sink):
    harness = Harness(manifests(sink.url + "/v2/alerts"))
    harness.send(failed())
    harness.send(failed(reason="ReconciliationFailed"))
    harness.send(event("other"))  # another object: nothing open, sent as today
    harness.send(event())  # recovery: both alerts closed instead of a new one
    harness.send(event())  # nothing open any more: as today
    requests = sink.wait_for(6)
    created = [r for r in requests if r.path == "/v2/alerts"]
    closed = [r for r in requests if r.path != "/v2/alerts"]
    assert [r.json()["alias"] for r in created[:2]] == [alias("apps", "HealthCheckFailed"),
                                                        alias("apps", "ReconciliationFailed")]
    assert [r.path for r in closed] == [f"/v2/alerts/{alias('apps', a)}/close?identifierType=alias"
                                        for a in ("HealthCheckFailed", "ReconciliationFailed")]
    for request in closed:
        assert request.method == "POST" and request.header("Authorization") == f"GenieKey {KEY}"
        assert request.json() == {"note": "applied"}
    assert [r.json()["message"] for r in created[2:]] == ["Kustomization/other", "Kustomization/apps"]
    assert len(requests) == 6 and requests[-1].path == "/v2/alerts"


def test_without_the_annotation_nothing_changes(sink):
    bodies = {}
    for resolve in (None, "false"):
        harness = Harness(manifests(sink.url + "/v2/alerts", resolve))
        harness.send(failed())
        harness.send(event())
        bodies[resolve] = [(r.path, r.body) for r in sink.wait_for(2)]
        sink.requests.clear()
    assert bodies[None] == bodies["false"]
    assert [path for path, _ in bodies[None]] == ["/v2/alerts", "/v2/alerts"]
    assert json.loads(bodies[None][1][1])["alias"] == alias("apps", "ReconciliationSucceeded")


def test_objects_alerts_and_clusters_are_kept_apart(sink):
    harness = Harness(manifests(sink.url + "/v2/alerts"))
    harness.send(failed(), cluster="prod")
    harness.send(event(), cluster="staging")  # another cluster: nothing open there
    harness.send(event(), cluster="prod")
    paths = [r.path for r in sink.wait_for(3)]
    assert paths[:2] == ["/v2/alerts", "/v2/alerts"] and paths[2].endswith("/close?identifierType=alias")


def test_a_failed_close_is_retried_and_the_incident_stays_open(sink):
    harness = Harness(manifests(sink.url + "/v2/alerts"), retry_base=0)
    harness.send(failed())
    sink.wait_for(1)
    sink.respond(503)
    (result,) = harness.send(event())
    assert result.outcome == "retry"
    ((retry_body, _),) = harness.take_queued()
    sink.respond(202)
    (again,) = harness.dispatcher.handle(retry_body)
    assert again.outcome == "delivered"
    closes = [r for r in sink.wait_for(3) if r.path.endswith("/close?identifierType=alias")]
    assert len(closes) == 2  # the failed one and its retry
    harness.send(event())
    assert sink.wait_for(4)[-1].path == "/v2/alerts"  # closed: the marker is gone


def test_a_failed_state_write_keeps_the_delivery(sink, caplog):
    class Broken(SqliteIncidents):
        def open(self, *args, **kwargs):
            raise OSError("disk full")

    stores = Stores.memory()
    stores.incidents = Broken(SqliteDatabase(":memory:"))
    harness = Harness(manifests(sink.url + "/v2/alerts"), stores=stores)
    (result,) = harness.send(failed())
    assert result.outcome == "delivered"
    assert any("incident state write failed" in r.getMessage() for r in caplog.records)


def test_render_shows_the_resolve_form_only_with_state(tmp_path):
    objects = load_yaml(manifests("http://127.0.0.1:1/v2/alerts"))
    (opening,) = render(objects, parse_event(json.dumps(failed())))
    assert opening["resolve"].startswith("opens an incident")
    assert opening["deliveries"][0]["url"] == "http://127.0.0.1:1/v2/alerts"
    (blind,) = render(objects, parse_event(json.dumps(event())))
    assert "would resolve" in blind["resolve"] and blind["deliveries"][0]["url"].endswith("/v2/alerts")
    store = SqliteIncidents(SqliteDatabase(str(tmp_path / "serve.db")))
    store.open("flux-system/oncall#flux-system/oncall#default#Kustomization/flux-system/apps", "a",
               {"alias": "abc"})
    (resolving,) = render(objects, parse_event(json.dumps(event())), incidents=store)
    assert resolving["resolve"].startswith("resolves 1 open incident(s)")
    (delivery,) = resolving["deliveries"]
    assert delivery["url"] == "http://127.0.0.1:1/v2/alerts/abc/close?identifierType=alias"
    assert delivery["method"] == "POST" and delivery["body"] == {"note": "applied"}
    assert store.opened("flux-system/oncall#flux-system/oncall#default#Kustomization/flux-system/apps")  # read only


@pytest.mark.parametrize(("provider_type", "value", "problem"), [
    ("opsgenie", "yes", "'yes' must be \"true\" or \"false\""),
    ("datadog", "true", "datadog Providers cannot resolve"),
    ("grafana", "true", "grafana Providers cannot resolve"),
    ("opsgenie", "true", None),
    ("alertmanager", "true", None),
    ("pagerduty", "true", None),
    ("datadog", "false", None),
])
def test_validate_checks_the_annotation(provider_type, value, problem):
    text = manifests("http://127.0.0.1:1/v2/alerts", value, provider_type)
    condition = {c.kind: c.as_dict() for c in conditions(load_yaml(text))}["Provider"]
    if problem is None:
        assert condition["status"] == "True", condition
    else:
        assert condition["status"] == "False" and problem in condition["message"]


def test_render_cli_reads_serves_db_and_leaves_it_unchanged(tmp_path, capsys):
    from fluxnotify.ops.cli import main

    files, event_file, db = tmp_path / "m.yaml", tmp_path / "e.json", tmp_path / "serve.db"
    files.write_text(manifests("http://127.0.0.1:1/v2/alerts"))
    event_file.write_text(json.dumps(event()))
    key = "flux-system/oncall#flux-system/oncall#default#Kustomization/flux-system/apps"
    SqliteIncidents(SqliteDatabase(str(db))).open(key, "a", {"alias": "a1"})
    assert main(["render", "-f", str(files), "--event", str(event_file), "--db", str(db)]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert [d["url"] for d in result["deliveries"]] == ["http://127.0.0.1:1/v2/alerts/a1/close?identifierType=alias"]
    assert SqliteIncidents(SqliteDatabase(str(db))).opened(key) == [{"alias": "a1"}]
    before = db.read_bytes()
    event_file.write_text(json.dumps(event("other")))  # nothing open for that object: as today
    assert main(["render", "-f", str(files), "--event", str(event_file), "--db", str(db)]) == 0
    (other,) = json.loads(capsys.readouterr().out)
    assert other["deliveries"][0]["url"] == "http://127.0.0.1:1/v2/alerts" and "resolve" not in other
    assert db.read_bytes() == before  # render wrote nothing
    assert main(["render", "-f", str(files), "--event", str(event_file), "--db", str(tmp_path / "none.db")]) == 2
    assert "no such local stack database" in capsys.readouterr().err and not (tmp_path / "none.db").exists()
