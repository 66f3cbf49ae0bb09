"""Many clusters, one receiver: token → cluster, the cluster in the duplicate key and metadata."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from fluxnotify.ingress.clusters import tag_cluster
from fluxnotify.ingress.receiver import Receiver
from fluxnotify.model.event import dedup_key, parse_event
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.dedup import SqliteDedup
from helpers import MemoryQueue

TOKENS = {"default": ["plain-1"], "prod-eu": ["eu-old", "eu-new"], "staging": ["st-1"]}
EVENT = {
    "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps",
                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
    "severity": "info", "message": "applied", "reason": "ReconciliationSucceeded",
    "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc"},
    "reportingController": "kustomize-controller",
}


def body(**changes) -> bytes:
    return json.dumps({**EVENT, **changes}).encode()


def receiver(queue, tmp_path=None, tokens=TOKENS) -> Receiver:
    dedup = SqliteDedup(SqliteDatabase(str(tmp_path / "d.db")), 300) if tmp_path else None
    return Receiver(queue, dedup, token=lambda: tokens)


@pytest.mark.parametrize("path,cluster", [
    ("/plain-1", "default"), ("/eu-old", "prod-eu"), ("/eu-new", "prod-eu"), ("/st-1", "staging"),
])
def test_path_token_resolves_to_its_cluster(path, cluster):
    queue = MemoryQueue()
    assert receiver(queue).handle("POST", path, {}, body()).status == 202
    (message,) = queue.bodies()
    assert message["cluster"] == cluster


def test_signature_key_resolves_to_its_cluster():
    queue = MemoryQueue()
    raw = body()
    signature = "sha256=" + hmac.new(b"st-1", raw, hashlib.sha256).hexdigest().upper()
    assert receiver(queue).handle("POST", "/", {"X-Signature": signature}, raw).status == 202
    assert queue.bodies()[0]["cluster"] == "staging"


def test_unknown_token_is_401_and_names_no_token():
    queue = MemoryQueue()
    answer = receiver(queue).handle("POST", "/eu-gone", {}, body())
    assert answer.status == 401 and "eu-gone" not in answer.body
    assert queue.messages == []


def test_the_token_secret_text_is_accepted_as_source():
    queue = MemoryQueue()
    secret = json.dumps({"prod-eu": ["a"], "staging": "b"})
    answer = Receiver(queue, token=lambda: secret).handle("POST", "/b", {}, body())
    assert answer.status == 202 and queue.bodies()[0]["cluster"] == "staging"


def test_an_unusable_secret_is_503_not_401_and_quotes_nothing():
    queue = MemoryQueue()
    answer = Receiver(queue, token=lambda: '{"Bad Name": ["tok-x"]}').handle("POST", "/tok-x", {}, body())
    assert answer.status == 503 and "tok-x" not in answer.body
    assert queue.messages == []


def test_same_event_from_two_clusters_is_queued_twice_and_repeated_once_refused(tmp_path):
    queue = MemoryQueue()
    stack = receiver(queue, tmp_path)
    assert stack.handle("POST", "/eu-new", {}, body()).status == 202
    assert stack.handle("POST", "/st-1", {}, body()).status == 202
    assert stack.handle("POST", "/plain-1", {}, body()).status == 202
    # Both tokens of one cluster are the same cluster: a duplicate.
    assert stack.handle("POST", "/eu-old", {}, body()).status == 429
    assert [m["cluster"] for m in queue.bodies()] == ["prod-eu", "staging", "default"]


def test_duplicate_key_of_the_default_cluster_is_the_references():
    event = parse_event(body())
    assert dedup_key(event) == dedup_key(event, "default")
    assert dedup_key(event, "prod-eu") != dedup_key(event)
    assert dedup_key(event, "prod-eu") != dedup_key(event, "staging")


def test_named_cluster_gains_cluster_metadata_that_survives_the_door():
    queue = MemoryQueue()
    receiver(queue).handle("POST", "/st-1", {}, body())
    receiver(queue).handle("POST", "/plain-1", {}, body(message="other"))
    named, unnamed = (m["event"]["metadata"] for m in queue.bodies())
    assert named == {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
                     "event.toolkit.fluxcd.io/cluster": "staging"}
    assert "event.toolkit.fluxcd.io/cluster" not in unnamed


@pytest.mark.parametrize("key", [
    "event.toolkit.fluxcd.io/cluster", "kustomize.toolkit.fluxcd.io/cluster",
])
def test_a_cluster_key_the_event_has_is_kept(key):
    queue = MemoryQueue()
    metadata = {**EVENT["metadata"], key: "from-the-cluster"}
    receiver(queue).handle("POST", "/st-1", {}, body(metadata=metadata))
    kept = queue.bodies()[0]["event"]["metadata"]
    assert kept[key] == "from-the-cluster" and list(kept.values()).count("staging") == 0


def test_tag_cluster_keeps_a_bare_cluster_key_of_a_forwarded_event():
    event = parse_event(body(metadata={"cluster": "eu"}))
    assert tag_cluster(event, "staging").metadata == {"cluster": "eu"}
    assert tag_cluster(event, "default") is event


def test_providers_see_the_bare_cluster_key():
    from fluxnotify.delivery.routing import combine_metadata
    from fluxnotify.model.manifests import parse_object

    alert = parse_object({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
        "metadata": {"name": "a", "namespace": "flux-system"},
        "spec": {"providerRef": {"name": "p"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]},
    })
    event = tag_cluster(parse_event(body()), "staging")
    combined, conflicts = combine_metadata(event, alert)
    assert combined.metadata["cluster"] == "staging" and not conflicts


def test_a_secret_without_clusters_refuses_everything_rather_than_opening_the_door():
    queue = MemoryQueue()
    for source in ({}, "{}"):
        answer = Receiver(queue, token=lambda source=source: source).handle("POST", "/", {}, body())
        assert answer.status == 401
    assert queue.messages == []
