"""Event API v1 through the delivery path: queue, templates, the action filters, generic-hmac."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest
from exthelpers import SECRET_TOKEN, Harness, event, generic_manifests

from fluxnotify.model.event import parse_event
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.render import render
from fluxnotify.ops.validate import conditions

RELATED = {"kind": "GitRepository", "namespace": "flux-system", "name": "repo"}


def v1_event(action: str = "Applied", **changes) -> dict:
    return {**event(**changes), "action": action, "relatedObject": RELATED}


def test_generic_hmac_sends_v1_fields_only_when_present_and_signs_those_bytes(sink):
    harness = Harness(generic_manifests(sink.url))
    harness.send(event())
    harness.send(v1_event())
    old, new = sink.wait_for(2)
    assert b'"action"' not in old.body and b'"relatedObject"' not in old.body
    assert old.body.endswith(b'"reportingController":"kustomize-controller"}')
    assert new.body.endswith(b',"reportingController":"kustomize-controller","action":"Applied",'
                             b'"relatedObject":{"kind":"GitRepository","namespace":"flux-system","name":"repo"}}')
    for request in (old, new):
        expected = "sha256=" + hmac.new(SECRET_TOKEN.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-Signature"] == expected


def test_a_retry_keeps_the_v1_fields():
    harness = Harness(generic_manifests("http://127.0.0.1:1"), retry_base=0)  # refused: retried
    (result,) = harness.send(v1_event())
    assert result.outcome == "retry"
    ((body, _),) = harness.take_queued()
    follow_up = json.loads(body)
    assert follow_up["attempt"] == 2
    assert follow_up["event"]["action"] == "Applied" and follow_up["event"]["relatedObject"] == RELATED


TEMPLATE = ("{{ event.action or 'no action' }} {{ event.involvedObject.name }}"
            "{% if event.related_object %} from {{ event.related_object.kind }}/{{ event.relatedObject.name }}"
            "{% endif %}")


def test_templates_see_action_and_related_object(sink):
    harness = Harness(generic_manifests(sink.url, {"fluxnotify.io/message": TEMPLATE}))
    harness.send(v1_event())
    harness.send(event())
    first, second = (r.json() for r in sink.wait_for(2))
    assert first["message"] == "Applied apps from GitRepository/repo"
    assert second["message"] == "no action apps"  # an old event: no failure, no fallback


def outcome(sink_url: str, annotations: dict, data: dict) -> tuple[str, str]:
    (result,) = Harness(generic_manifests(sink_url, annotations)).send(data)
    return result.outcome, result.detail


def test_actions_keep_only_the_listed_actions(sink, caplog):
    notes = {"fluxnotify.io/actions": "Appl*, Failed"}
    with caplog.at_level(logging.INFO):
        skipped = outcome(sink.url, notes, v1_event("Reconciling"))
    assert skipped == ("skipped", "fluxnotify.io/actions: action 'Reconciling' is not one of Appl*, Failed")
    assert outcome(sink.url, notes, v1_event("Applied"))[0] == "delivered"
    assert outcome(sink.url, notes, v1_event("Failed"))[0] == "delivered"
    # An event of the old API has no action (""): a list without '*' keeps it out.
    assert outcome(sink.url, notes, event()) == ("skipped", "fluxnotify.io/actions: action '' is not one of "
                                                             "Appl*, Failed")
    assert [r.json()["action"] for r in sink.wait_for(2)] == ["Applied", "Failed"]


def test_exclude_actions_win_and_combine_with_reasons(sink):
    notes = {"fluxnotify.io/actions": "*", "fluxnotify.io/exclude-actions": "Reconciling,Progressing",
             "fluxnotify.io/reasons": "Reconciliation*"}
    assert outcome(sink.url, notes, v1_event("Progressing")) == (
        "skipped", "fluxnotify.io/exclude-actions: action 'Progressing' is excluded (Reconciling, Progressing)")
    assert outcome(sink.url, notes, v1_event("Applied", reason="HealthCheckFailed"))[0] == "skipped"
    assert outcome(sink.url, notes, v1_event("Applied"))[0] == "delivered"
    assert outcome(sink.url, notes, event())[0] == "delivered"  # '*' also matches no action


def test_render_shows_the_action_rule_and_the_v1_body():
    objects = load_yaml(generic_manifests("http://127.0.0.1:1", {"fluxnotify.io/exclude-actions": "Reconcil*"}))
    (skipped,) = render(objects, parse_event(json.dumps(v1_event("Reconciling"))))
    assert skipped["skipped"].startswith("fluxnotify.io/exclude-actions: action 'Reconciling'")
    (sent,) = render(objects, parse_event(json.dumps(v1_event("Applied"))))
    assert sent["deliveries"][0]["body"]["relatedObject"] == RELATED


@pytest.mark.parametrize("key", ["fluxnotify.io/actions", "fluxnotify.io/exclude-actions"])
def test_validate_refuses_an_empty_action_list(key):
    def alert(annotations: dict) -> dict:
        found = conditions(load_yaml(generic_manifests("http://127.0.0.1:1", annotations)))
        return {c.kind: c.as_dict() for c in found}["Alert"]

    condition = alert({key: " , "})
    assert condition["status"] == "False" and f"{key}: empty list" in condition["message"]
    assert alert({key: "Applied,Fail*"})["status"] == "True"
