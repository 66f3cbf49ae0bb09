"""Dispatcher: fan-out, per-provider retries, back-off, dead letters, replayed letters."""

from __future__ import annotations

import json

import pytest

from fluxnotify.config.files import FileStore
from fluxnotify.delivery.dispatcher import Dispatcher, Envelope, parse_envelope
from fluxnotify.model.manifests import load_yaml
from fluxnotify.settings import Settings
from fluxnotify.transport.failures import redact_url
from helpers import MemoryQueue, dispatch, door

EVENT = {
    "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps",
                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
    "severity": "info", "timestamp": "2026-01-01T00:00:00Z", "message": "applied", "reason": "ReconciliationSucceeded",
    "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:1234"},
    "reportingController": "kustomize-controller",
}


def manifests(url: str, *, token: str = "super-secret-token-value") -> str:
    providers = "".join(
        f"""---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: {name}, namespace: flux-system}}
spec: {{type: generic-hmac, address: "{url}/{name}", secretRef: {{name: key}}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: {name}, namespace: flux-system}}
spec:
  providerRef: {{name: {name}}}
  eventSources: [{{kind: Kustomization, name: "*"}}]
"""
        for name in ("one", "two", "three")
    )
    return providers + f"""---
apiVersion: v1
kind: Secret
metadata: {{name: key, namespace: flux-system}}
stringData: {{token: {token}}}
"""


def test_fan_out_to_every_matching_alert(sink):
    report = dispatch(manifests(sink.url), EVENT)
    assert sorted(report.delivered) == ["flux-system/one", "flux-system/three", "flux-system/two"]
    assert sorted(r.path for r in sink.wait_for(3)) == ["/one", "/three", "/two"]
    assert report.retries == [] and report.dead_letters == []


def test_only_failed_targets_are_retried_and_retry_after_is_honoured(sink):
    sink.handler = lambda r: (429, {"Retry-After": "42"}, b"slow down") if r.path == "/two" else (200, {}, b"")
    report = dispatch(manifests(sink.url), EVENT)
    assert sorted(report.delivered) == ["flux-system/one", "flux-system/three"]
    (retry,) = report.retries
    assert retry["targets"] == ["flux-system/two"] and retry["attempt"] == 2
    assert report.delays == [42]

    sink.requests.clear()
    sink.handler = None
    again = dispatch(manifests(sink.url), EVENT, body=json.dumps(retry))
    assert again.delivered == ["flux-system/two"]
    assert [r.path for r in sink.requests] == ["/two"]  # one and three are not sent twice


def test_exhausted_attempts_go_to_the_dead_letter_queue(sink):
    sink.default = (500, {}, b"boom")
    envelope = Envelope(event=door(EVENT).to_dict(), attempt=3, targets=["flux-system/one"])
    report = dispatch(manifests(sink.url), EVENT, body=envelope.to_json(), dispatcher_options={"max_attempts": 3})
    assert report.retries == []
    (letter,) = report.dead_letters
    assert letter["reason"] == "retries exhausted"
    assert letter["attempt"] == 3 and letter["provider"] == "flux-system/one"
    assert letter["error"] == (
        f"giving up after 3 attempt(s): POST {redact_url(sink.url + '/x')} answered 500 Internal Server Error: boom"
    )


def test_permanent_failure_is_dead_lettered_at_once_without_secrets(sink):
    token = "super-secret-token-value"
    sink.default = (403, {}, f"bad signature for key {token}".encode())
    report = dispatch(manifests(sink.url, token=token), EVENT)
    assert report.retries == []
    assert len(report.dead_letters) == 3
    for letter in report.dead_letters:
        assert letter["reason"] == "permanent failure"
        assert token not in json.dumps(letter)
        assert "*****" in letter["error"]


def test_connection_refused_is_retryable(sink):
    yaml_text = manifests("http://127.0.0.1:1")
    report = dispatch(yaml_text, EVENT)
    (retry,) = report.retries
    assert sorted(retry["targets"]) == ["flux-system/one", "flux-system/three", "flux-system/two"]


def test_missing_provider_and_config_errors_are_permanent(sink):
    yaml_text = """
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: orphan, namespace: flux-system}
spec:
  providerRef: {name: nowhere}
  eventSources: [{kind: Kustomization, name: "*"}]
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: hmac, namespace: flux-system}
spec:
  providerRef: {name: hmac}
  eventSources: [{kind: Kustomization, name: "*"}]
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hmac, namespace: flux-system}
spec: {type: generic-hmac, address: "http://127.0.0.1:1/x"}
"""
    report = dispatch(yaml_text, EVENT)
    errors = sorted(letter["error"] for letter in report.dead_letters)
    assert errors == ["HMAC key is empty", "failed to read provider: Provider 'flux-system/nowhere' not found"]


def test_commit_status_update_is_skipped_for_chat_providers_with_the_rule(sink):
    yaml_text = f"""
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: chat, namespace: flux-system}}
spec: {{type: slack, address: "{sink.url}/slack"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: chat, namespace: flux-system}}
spec:
  providerRef: {{name: chat}}
  eventSources: [{{kind: Kustomization, name: "*"}}]
"""
    event = {**EVENT, "metadata": {"kustomize.toolkit.fluxcd.io/commit_status": "update"}}
    report = dispatch(yaml_text, event)
    assert report.skipped == {
        "flux-system/chat": "commit status update events are only sent to git and generic providers"
    }
    assert sink.requests == []


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    dispatcher = Dispatcher(FileStore([]), MemoryQueue(), MemoryQueue(), Settings(retry_base=30))
    for attempt, full in [(1, 30), (2, 60), (3, 120), (5, 480)]:
        delays = {dispatcher.backoff(attempt, [None]) for _ in range(50)}
        assert all(0.8 * full - 1 <= d <= full for d in delays), (attempt, delays)
        assert len(delays) > 1  # jitter
    assert dispatcher.backoff(9, [None]) == 900
    assert dispatcher.backoff(1, [None, 5000.0]) == 900
    assert dispatcher.backoff(4, [7.2]) == 8


def test_replayed_dead_letter_starts_over_for_its_targets():
    letter = {"event": {"involvedObject": {}}, "targets": ["ns/a"], "attempt": 9, "error": "x", "provider": "ns/p"}
    envelope = parse_envelope(json.dumps(letter))
    assert envelope.attempt == 1 and envelope.targets == ["ns/a"]


def test_undecodable_message_is_dead_lettered_with_its_body():
    dead = MemoryQueue()
    Dispatcher(FileStore([]), MemoryQueue(), dead).handle('{"event": {"severity": 5}}')
    (letter,) = dead.bodies()
    assert letter["reason"] == "undecodable message"
    assert letter["error"] == "severity must be a string, got number"
    assert letter["raw"] == '{"event": {"severity": 5}}'


def test_a_provider_bug_is_retried_not_lost(monkeypatch, sink):
    from fluxnotify.providers.stream import generic_hmac

    def explode(event, cfg):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(generic_hmac, "encode", explode)
    report = dispatch(manifests(sink.url), EVENT)
    assert len(report.retries) == 1 and report.dead_letters == []


@pytest.mark.parametrize("targets", [None, ["flux-system/one"]])
def test_bare_flux_event_and_envelopes_are_accepted(sink, targets):
    objects = load_yaml(manifests(sink.url))
    dispatcher = Dispatcher(FileStore(objects), MemoryQueue(), MemoryQueue())
    if targets is None:
        results = dispatcher.handle(json.dumps(door(EVENT).to_dict()))
        assert len(results) == 3
    else:
        results = dispatcher.handle(Envelope(door(EVENT).to_dict(), 2, targets).to_json())
        assert [r.target for r in results] == targets
