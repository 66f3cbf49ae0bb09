"""Flux's Event API v1 fields (model/eventv1.py): ``action`` and ``relatedObject``."""

from __future__ import annotations

import json

import pytest

from fluxnotify.config.options import ProviderConfig
from fluxnotify.ingress.receiver import Receiver
from fluxnotify.model.event import EventError, ObjectRef, parse_event
from fluxnotify.model.eventv1 import ACTIONS, MAX_ACTION
from fluxnotify.providers.stream import generic
from helpers import MemoryQueue

OLD = {
    "involvedObject": {"kind": "HelmRelease", "namespace": "apps", "name": "web", "uid": "u-1",
                       "apiVersion": "helm.toolkit.fluxcd.io/v2", "resourceVersion": "42"},
    "severity": "error", "timestamp": "2026-03-01T10:00:00.5+02:00", "message": "install <failed> & retried \u2028",
    "reason": "InstallFailed", "metadata": {"b": "2", "a": "1"}, "reportingController": "helm-controller",
    "reportingInstance": "helm-controller-0",
}
# What fluxnotify sent for OLD before the Event API v1 fields existed (computed on main before
# this change): an event without them must keep exactly these bytes.
OLD_BYTES = (
    b'{"involvedObject":{"kind":"HelmRelease","namespace":"apps","name":"web","uid":"u-1",'
    b'"apiVersion":"helm.toolkit.fluxcd.io/v2","resourceVersion":"42"},"severity":"error",'
    b'"timestamp":"2026-03-01T08:00:00Z","message":"install \\u003cfailed\\u003e \\u0026 retried \\u2028",'
    b'"reason":"InstallFailed","metadata":{"a":"1","b":"2"},"reportingController":"helm-controller",'
    b'"reportingInstance":"helm-controller-0"}'
)
RELATED = {"kind": "GitRepository", "namespace": "flux-system", "name": "repo",
           "apiVersion": "source.toolkit.fluxcd.io/v1"}
CFG = ProviderConfig(type="generic", namespace="ns", name="hook", uid="u", address="http://127.0.0.1:1/hook")


def v1(**changes) -> dict:
    return {**OLD, "action": "Failed", "relatedObject": RELATED, **changes}


def test_an_event_without_v1_fields_keeps_its_exact_generic_bytes():
    (request,) = generic.encode(parse_event(json.dumps(OLD)), CFG)
    assert request.body == OLD_BYTES


def test_v1_fields_are_parsed_and_sent_after_the_existing_fields():
    event = parse_event(json.dumps(v1()))
    assert event.action == "Failed"
    assert event.related_object == ObjectRef(kind="GitRepository", namespace="flux-system", name="repo",
                                             api_version="source.toolkit.fluxcd.io/v1")
    (request,) = generic.encode(event, CFG)
    assert request.body == OLD_BYTES[:-1] + (
        b',"action":"Failed","relatedObject":{"kind":"GitRepository","namespace":"flux-system",'
        b'"name":"repo","apiVersion":"source.toolkit.fluxcd.io/v1"}}')


def test_each_v1_field_is_sent_only_when_present():
    only_action = parse_event(json.dumps({**OLD, "action": "Applied"})).go_json()
    assert only_action.endswith('"reportingInstance":"helm-controller-0","action":"Applied"}')
    only_related = json.loads(parse_event(json.dumps({**OLD, "relatedObject": {"name": "x"}})).go_json())
    assert "action" not in only_related and only_related["relatedObject"] == {"name": "x"}
    # Go: null leaves a field empty, "" is omitted (omitempty), {} is an empty reference.
    assert parse_event(json.dumps({**OLD, "action": None, "relatedObject": None})).go_json() == OLD_BYTES.decode()
    assert parse_event(json.dumps({**OLD, "action": ""})).go_json() == OLD_BYTES.decode()
    assert parse_event(json.dumps({**OLD, "relatedObject": {}})).go_json().endswith(',"relatedObject":{}}')


def test_keys_match_case_insensitively_like_go():
    event = parse_event(json.dumps({**OLD, "ACTION": "Applied", "relatedobject": {"KIND": "Bucket", "extra": 1}}))
    assert event.action == "Applied" and event.related_object == ObjectRef(kind="Bucket")


def test_any_action_string_is_accepted_flux_may_add_more():
    assert len(ACTIONS) == 13
    assert parse_event(json.dumps({**OLD, "action": "Rolling Back"})).action == "Rolling Back"


@pytest.mark.parametrize("changes,field", [
    ({"action": 5}, "action"),
    ({"action": ["Failed"]}, "action"),
    ({"action": "A" * (MAX_ACTION + 1)}, "action"),
    ({"relatedObject": "x"}, "relatedObject"),
    ({"relatedObject": ["x"]}, "relatedObject"),
    ({"relatedObject": {"kind": 1}}, "relatedObject.kind"),
    ({"relatedObject": {"name": True}}, "relatedObject.name"),
])
def test_wrong_types_name_the_field(changes, field):
    with pytest.raises(EventError) as caught:
        parse_event(json.dumps({**OLD, **changes}))
    assert caught.value.field == field


@pytest.mark.parametrize("changes,field", [
    ({"action": 5}, "action"),
    ({"relatedObject": "x"}, "relatedObject"),
    ({"relatedObject": {"kind": 1}}, "relatedObject.kind"),
])
def test_the_receiver_answers_400_naming_the_field_and_queues_nothing(changes, field):
    queue = MemoryQueue()
    answer = Receiver(queue).handle("POST", "/", {}, json.dumps({**OLD, **changes}).encode())
    assert answer.status == 400
    error = json.loads(answer.body)
    assert error["field"] == field and field.split(".")[-1] in error["error"]
    assert queue.messages == []


def test_the_receiver_keeps_v1_fields_in_the_queued_event():
    queue = MemoryQueue()
    assert Receiver(queue).handle("POST", "/", {}, json.dumps(v1()).encode()).status == 202
    (message,) = queue.bodies()
    assert message["event"]["action"] == "Failed" and message["event"]["relatedObject"] == RELATED
    assert list(message["event"])[-2:] == ["action", "relatedObject"]
