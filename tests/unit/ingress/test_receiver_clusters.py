"""Many clusters, one receiver: token → cluster, the cluster in the duplicate key and metadata."""

from __future__ import annotations

import hashlib
import hmac
import json
from types import SimpleNamespace

import pytest

from fluxnotify.ingress import clusters as clusters_module
from fluxnotify.ingress.clusters import tag_cluster
from fluxnotify.ingress.receiver import Receiver
from fluxnotify.model.event import parse_event
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.dedup import SqliteDedup, dedup_key
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


@pytest.mark.parametrize("path,headers", [
    ("/staging", {}), ("/", {"X-Fluxnotify-Cluster": "staging"}), ("/anything", {"x-fluxnotify-cluster": "staging"}),
])
def test_a_signature_is_verified_with_the_cluster_the_path_or_header_names(path, headers):
    queue = MemoryQueue()
    raw = body()
    signature = "sha256=" + hmac.new(b"st-1", raw, hashlib.sha256).hexdigest().upper()
    assert receiver(queue).handle("POST", path, {"X-Signature": signature, **headers}, raw).status == 202
    assert queue.bodies()[0]["cluster"] == "staging"


def test_without_a_hint_a_signature_is_verified_with_the_default_cluster_only():
    queue = MemoryQueue()
    raw = body()
    by_staging = "sha256=" + hmac.new(b"st-1", raw, hashlib.sha256).hexdigest()
    by_default = "sha256=" + hmac.new(b"plain-1", raw, hashlib.sha256).hexdigest()
    assert receiver(queue).handle("POST", "/", {"X-Signature": by_staging}, raw).status == 401
    assert receiver(queue).handle("POST", "/prod-eu", {"X-Signature": by_staging}, raw).status == 401
    assert receiver(queue).handle("POST", "/", {"X-Signature": by_default}, raw).status == 202
    assert [m["cluster"] for m in queue.bodies()] == ["default"]


def test_a_single_cluster_stacks_generic_hmac_setup_works_without_a_hint():
    queue = MemoryQueue()
    raw = body()
    signature = "sha256=" + hmac.new(b"only", raw, hashlib.sha256).hexdigest()
    for tokens in ("only", {"prod-eu": ["only"]}):
        answer = Receiver(queue, token=lambda tokens=tokens: tokens).handle("POST", "/", {"X-Signature": signature}, raw)
        assert answer.status == 202
    assert [m["cluster"] for m in queue.bodies()] == ["default", "prod-eu"]


def counted_hmacs(monkeypatch) -> list[int]:
    calls: list[int] = []

    def counting(key, message=None, digestmod=None):
        calls.append(len(message or b""))
        return hmac.new(key, message, digestmod)

    monkeypatch.setattr(clusters_module, "hmac", SimpleNamespace(new=counting, compare_digest=hmac.compare_digest))
    return calls


def test_an_oversized_body_is_413_before_any_hmac(monkeypatch):
    calls = counted_hmacs(monkeypatch)
    queue = MemoryQueue()
    tokens = {"default": ["plain-1"], **{f"c{i}": [f"o{i}", f"n{i}"] for i in range(199)}}
    answer = receiver(queue, tokens=tokens).handle("POST", "/", {"X-Signature": "sha256=" + "ab" * 32},
                                                   b"x" * (4 * 1024 * 1024))
    assert answer.status == 413 and calls == [] and queue.messages == []


def test_a_bogus_signature_costs_as_many_hmacs_with_200_clusters_as_with_one(monkeypatch):
    calls = counted_hmacs(monkeypatch)
    raw = body()
    bogus = {"X-Signature": "sha256=" + "ab" * 32}
    one = {"default": ["plain-1"]}
    many = {**one, **{f"c{i}": [f"o{i}", f"n{i}"] for i in range(199)}}
    assert receiver(MemoryQueue(), tokens=one).handle("POST", "/", bogus, raw).status == 401
    with_one = len(calls)
    assert receiver(MemoryQueue(), tokens=many).handle("POST", "/", bogus, raw).status == 401
    assert with_one == 1 and len(calls) - with_one == with_one
    calls.clear()
    assert receiver(MemoryQueue(), tokens=many).handle("POST", "/c42", bogus, raw).status == 401
    assert len(calls) == 2  # the named cluster's two tokens (a rotation), no other


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


def test_duplicate_key_names_the_cluster_default_included():
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
    "event.toolkit.fluxcd.io/cluster", "kustomize.toolkit.fluxcd.io/cluster", "kustomize.toolkit.fluxcd.io/Cluster",
])
def test_the_authenticated_cluster_replaces_a_cluster_key_the_event_brings(key):
    queue = MemoryQueue()
    metadata = {**EVENT["metadata"], key: "prod-eu"}
    receiver(queue).handle("POST", "/st-1", {}, body(metadata=metadata))
    kept = queue.bodies()[0]["event"]["metadata"]
    assert kept == {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc",
                    "event.toolkit.fluxcd.io/cluster": "staging"}


def test_the_default_cluster_keeps_the_cluster_key_it_brings():
    # No authenticated name to put in its place: the event says what it says, as in Flux.
    queue = MemoryQueue()
    metadata = {**EVENT["metadata"], "kustomize.toolkit.fluxcd.io/cluster": "eu-1"}
    receiver(queue).handle("POST", "/plain-1", {}, body(metadata=metadata))
    assert queue.bodies()[0]["event"]["metadata"] == metadata


def test_tag_cluster_replaces_a_bare_cluster_key_of_a_forwarded_event():
    event = parse_event(body(metadata={"cluster": "prod-eu", "other": "x"}))
    assert tag_cluster(event, "staging").metadata == {"other": "x", "event.toolkit.fluxcd.io/cluster": "staging"}
    assert tag_cluster(event, "default") is event


def alert_with(event_metadata: dict[str, str] | None = None):
    from fluxnotify.model.manifests import parse_object

    spec = {"providerRef": {"name": "p"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]}
    if event_metadata:
        spec["eventMetadata"] = event_metadata
    return parse_object({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
                         "metadata": {"name": "a", "namespace": "flux-system"}, "spec": spec})


def test_providers_see_the_authenticated_cluster_unless_the_alert_sets_it():
    from fluxnotify.delivery.routing import combine_metadata

    queue = MemoryQueue()
    forged = {**EVENT["metadata"], "kustomize.toolkit.fluxcd.io/cluster": "prod-eu",
              "event.toolkit.fluxcd.io/cluster": "prod-eu"}
    assert receiver(queue).handle("POST", "/st-1", {}, body(metadata=forged)).status == 202
    event = parse_event(json.dumps(queue.bodies()[0]["event"]).encode())
    combined, conflicts = combine_metadata(event, alert_with())
    assert combined.metadata["cluster"] == "staging" and not conflicts
    # The Alert's own eventMetadata is configuration, trusted: it still names the cluster.
    combined, _ = combine_metadata(event, alert_with({"cluster": "eu-main"}))
    assert combined.metadata["cluster"] == "eu-main"


def test_a_secret_without_clusters_refuses_everything_rather_than_opening_the_door():
    queue = MemoryQueue()
    for source in ({}, "{}"):
        answer = Receiver(queue, token=lambda source=source: source).handle("POST", "/", {}, body())
        assert answer.status == 401
    assert queue.messages == []
