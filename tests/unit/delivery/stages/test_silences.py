"""Stage ``silences``: which events a silence mutes, its rule, its place in the order."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from exthelpers import Harness, event, generic_manifests

from fluxnotify.delivery.stages.silences import rule
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.render import render
from fluxnotify.state.silences import StaticSilences, added, expired, new_silence, parse_matchers
from fluxnotify.state.stores import Stores
from helpers import door


def _silence(match: str, cluster: str = "", hours: float = 2.0, comment: str = "db migration"):
    return new_silence(parse_matchers([match] if match else []), cluster, time.time() + hours * 3600, comment)


@pytest.fixture
def harness(sink):
    return Harness(generic_manifests(sink.url, {"fluxnotify.io/exclude-reasons": "Progressing"}),
                   stores=Stores.memory())


def _add(harness: Harness, silence) -> None:
    harness.dispatcher.stores.silences.store.change(lambda current: added(current, silence, time.time()))


def test_a_matching_event_is_skipped_with_the_silence_named(harness, sink):
    silence = _silence("kind=Kustomization,namespace=flux-system,name=web-*")
    _add(harness, silence)
    (result,) = harness.send(event("web-frontend"))
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(silence.ends_at))
    assert result.outcome == "skipped"
    assert result.detail == f"silenced by {silence.id} until {until}: db migration"
    (other,) = harness.send(event("api"))  # name does not match the glob
    assert other.outcome == "delivered"
    assert len(sink.wait_for(1)) == 1


@pytest.mark.parametrize("match,cluster,sent,delivered", [
    ("namespace=flux-system", "", ("apps", "default"), False),
    ("kind=HelmRelease", "", ("apps", "default"), True),
    ("kind=Kustom*", "", ("apps", "default"), False),
    ("namespace=apps", "", ("apps", "default"), True),
    ("name=apps", "prod", ("apps", "prod"), False),
    ("name=apps", "prod", ("apps", "staging"), True),
    ("", "prod-*", ("anything", "prod-eu"), False),  # a whole cluster
    ("", "prod", ("anything", "default"), True),
    ("reason=Health*", "", ("apps", "default"), True),  # the event's reason is ReconciliationSucceeded
    ("reason=Reconciliation*,name=a*", "", ("apps", "default"), False),
])
def test_kind_namespace_name_reason_and_cluster_are_matched(harness, sink, match, cluster, sent, delivered):
    _add(harness, _silence(match, cluster))
    name, from_cluster = sent
    (result,) = harness.send(event(name), cluster=from_cluster)
    assert (result.outcome == "delivered") is delivered, result.detail
    assert (len(sink.requests) == 1) is delivered


def test_an_expired_silence_no_longer_applies(harness, sink):
    silence = _silence("name=apps")
    _add(harness, silence)
    assert harness.send(event("apps"))[0].outcome == "skipped"
    harness.dispatcher.stores.silences.store.change(lambda current: expired(current, silence.id, time.time()))
    assert harness.send(event("apps"))[0].outcome == "delivered"
    ended = replace(_silence("name=apps"), ends_at=time.time() - 1)  # ended on its own
    harness.dispatcher.stores.silences.store.change(lambda current: [ended])
    assert harness.send(event("apps"))[0].outcome == "delivered"


def test_the_filters_come_first(harness):
    """An event the Alert's own filters keep out is not "silenced": the filter's rule stands."""
    _add(harness, _silence("name=apps"))
    (result,) = harness.send(event("apps", reason="Progressing"))
    assert result.outcome == "skipped" and result.detail.startswith("fluxnotify.io/exclude-reasons")


def test_a_silenced_event_is_not_gathered_into_a_digest(sink):
    harness = Harness(generic_manifests(sink.url, {"fluxnotify.io/digest": "5m"}), stores=Stores.memory())
    _add(harness, _silence("name=apps"))
    (result,) = harness.send(event("apps"))
    assert result.detail.startswith("silenced by") and harness.queue.messages == []


def test_the_rule_without_a_comment():
    silence = replace(_silence("name=apps"), comment="", ends_at=1_800_000_000.0)
    assert rule(silence) == f"silenced by {silence.id} until 2027-01-15T08:00:00Z"


def test_render_shows_the_silence_that_would_apply(sink):
    silence = _silence("namespace=flux-system", comment="freeze")
    objects = load_yaml(generic_manifests(sink.url))
    (shown,) = render(objects, door(event("apps")), silences=StaticSilences([silence]))
    assert shown["skipped"].startswith(f"silenced by {silence.id} until ") and shown["skipped"].endswith(": freeze")
    assert shown["deliveries"] == []
    (plain,) = render(objects, door(event("apps")))
    assert plain["skipped"] is None and len(plain["deliveries"]) == 1
