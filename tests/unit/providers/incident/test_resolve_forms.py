"""The resolve forms of opsgenie (close by alias) and alertmanager (endsAt) — pure encoders."""

from __future__ import annotations

import base64
import json

from fixtures.incident.incident_helpers import config, event

from fluxnotify.providers.incident import alertmanager, opsgenie


def test_opsgenie_close_url_keeps_the_address_host_path_and_query():
    assert opsgenie.close_url("https://api.eu.opsgenie.com/v2/alerts", "ab") == \
        "https://api.eu.opsgenie.com/v2/alerts/ab/close?identifierType=alias"
    assert opsgenie.close_url("http://127.0.0.1:9/v2/alerts/?x=1", "a/b") == \
        "http://127.0.0.1:9/v2/alerts/a%2Fb/close?x=1&identifierType=alias"


def test_opsgenie_incident_is_the_alias_and_closing_uses_the_same_key():
    cfg = config("opsgenie", address="https://api.opsgenie.com/v2/alerts", token="k-1")
    failed = event("error", reason="HealthCheckFailed")
    entry_id, entry = opsgenie.incident(failed, cfg)
    assert entry == {"alias": opsgenie.alias(failed, cfg.uid)} and entry_id == entry["alias"]
    (request,) = opsgenie.encode_resolve(event("info", "recovered"), cfg, [entry, {"bogus": 1}])
    assert request.url == f"https://api.opsgenie.com/v2/alerts/{entry_id}/close?identifierType=alias"
    assert request.headers["Authorization"] == "GenieKey k-1"
    assert json.loads(request.body) == {"note": "recovered"}


def test_alertmanager_resolve_reposts_the_labels_ended_now_with_the_same_auth(monkeypatch):
    monkeypatch.setattr(alertmanager, "now_text", lambda: "2030-01-01T00:00:00Z")
    cfg = config("alertmanager", address="http://u:p@127.0.0.1:9/api/v2/alerts")
    failed = event("error", "boom", {"revision": "r1"}, reason="HealthCheckFailed")
    entry_id, entry = alertmanager.incident(failed, cfg)
    assert entry["labels"] == alertmanager.alert(failed)["labels"] and len(entry_id) == 32
    future = {"labels": {"alertname": "X"}, "startsAt": "2031-05-05T00:00:00Z"}
    (request,) = alertmanager.encode_resolve(event("info", "all good"), cfg, [entry, future])
    assert request.url == "http://127.0.0.1:9/api/v2/alerts"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    first, second = json.loads(request.body)
    assert first == {"status": "resolved", "labels": entry["labels"], "annotations": {"message": "all good"},
                     "startsAt": "2022-09-30T06:40:29Z", "endsAt": "2030-01-01T00:00:00Z"}
    assert second["endsAt"] == "2031-05-05T00:00:00Z"  # never before its start: Alertmanager refuses that
    assert alertmanager.encode_resolve(event(), cfg, [{"nothing": 1}]) == []
