"""Events forwarded by notification-controller's generic-hmac provider keep their metadata
(issue 12.4): the exact request the reference sends is accepted, recognised as forwarded, and
its bare keys reach commit-status and chat providers as the reference gave them."""

from __future__ import annotations

import json

from fluxnotify.ingress.forwarded import as_raw, is_forwarded
from fluxnotify.ingress.receiver import Receiver
from fluxnotify.model.event import parse_event
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.render import render
from helpers import MemoryQueue, dispatch

# Spec §1.4: the reference's generic-hmac test body, key and signature, byte for byte.
REFERENCE_BODY = (
    b'{"involvedObject":{"kind":"GitRepository","namespace":"gitops-system","name":"webapp"},'
    b'"severity":"info","timestamp":"2022-09-30T06:40:29Z","message":"message","reason":"reason",'
    b'"metadata":{"test":"metadata"},"reportingController":"source-controller",'
    b'"reportingInstance":"source-controller-xyz"}'
)
REFERENCE_KEY = "7152fed34dd6149a7c75a276c510da27cb6f82b0"
REFERENCE_SIGNATURE = "sha256=65b018549b1254e7226d1c08f9567ee45bc9de0fc4e7b1a40253f9a018b08be7"
SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"

# What a Flux controller posts to notification-controller (prefixed keys).
CONTROLLER_EVENT = {
    "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps",
                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
    "severity": "error", "timestamp": "2026-11-25T10:00:00Z", "message": "health check failed",
    "reason": "HealthCheckFailed", "reportingController": "kustomize-controller",
    "metadata": {"kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{SHA}"},
}

# The notification-controller side: a generic-hmac Provider forwarding to fluxnotify.
FORWARDER = f"""
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: fluxnotify, namespace: flux-system}}
spec: {{type: generic-hmac, address: "https://fluxnotify.example/", secretRef: {{name: hmac}}}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: forward, namespace: flux-system}}
spec:
  providerRef: {{name: fluxnotify}}
  summary: "production cluster"
  eventSources: [{{kind: Kustomization, name: "*"}}]
---
apiVersion: v1
kind: Secret
metadata: {{name: hmac, namespace: flux-system}}
stringData: {{token: {REFERENCE_KEY}}}
"""


def receive(body: bytes, headers: dict[str, str]) -> tuple[int, list[str]]:
    queue = MemoryQueue()
    answer = Receiver(queue, token=lambda: REFERENCE_KEY).handle("POST", "/", headers, body)
    return answer.status, [message for message, _ in queue.messages]


def test_reference_generic_hmac_request_is_accepted_with_its_metadata(sink):
    headers = {"Content-Type": "application/json", "Gotk-Component": "source-controller",
               "X-Signature": REFERENCE_SIGNATURE, "User-Agent": "Go-http-client/1.1"}
    status, messages = receive(REFERENCE_BODY, headers)
    assert status == 202
    generic = f"""
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: hook, namespace: gitops-system}}
spec: {{type: generic, address: "{sink.url}/hook"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: hook, namespace: gitops-system}}
spec:
  providerRef: {{name: hook}}
  eventSources: [{{kind: GitRepository, name: "*"}}]
"""
    report = dispatch(generic, {}, body=messages[0])
    assert report.delivered == ["gitops-system/hook"]
    assert sink.requests[0].body == REFERENCE_BODY  # forwarded on unchanged, metadata included


def test_same_body_from_a_controller_is_cleaned_as_usual():
    """Without Gotk-Component the bare key is dropped, as the reference's clean-up does."""
    status, messages = receive(REFERENCE_BODY, {"X-Signature": REFERENCE_SIGNATURE})
    assert status == 202
    assert "metadata" not in json.loads(messages[0])["event"]


def test_rule_needs_the_header_and_a_processed_body():
    processed = parse_event(REFERENCE_BODY)
    raw = parse_event(json.dumps(CONTROLLER_EVENT))
    assert is_forwarded({"gotk-component": "source-controller"}, processed)
    assert not is_forwarded({}, processed)
    assert not is_forwarded({"gotk-component": "x"}, raw)  # prefixed keys: a raw event
    assert as_raw(parse_event(json.dumps({**CONTROLLER_EVENT, "metadata": {
        "revision": "r", "commit": "c"}}))).metadata == {
        "kustomize.toolkit.fluxcd.io/revision": "r", "event.toolkit.fluxcd.io/commit": "c"}


def forwarded_request() -> tuple[bytes, dict[str, str]]:
    """The request the reference's generic-hmac provider sends (fluxnotify's own encoder is
    byte-identical to it: the spec §1.4 signature is checked below)."""
    objects = load_yaml(FORWARDER)
    (result,) = render(objects, parse_event(json.dumps(CONTROLLER_EVENT)))
    (delivery,) = result["deliveries"]
    return delivery["raw"].encode(), delivery["headers"]


def test_our_generic_hmac_reproduces_the_reference_request():
    """The forwarding side, as fluxnotify's generic-hmac encodes it: the spec's bytes and
    signature (group-less object, so the raw key is '/test')."""
    objects = load_yaml(FORWARDER.replace("flux-system", "gitops-system").replace("Kustomization", "GitRepository")
                        .replace('  summary: "production cluster"\n', ""))
    raw = json.loads(REFERENCE_BODY)
    raw["metadata"] = {"/test": "metadata"}
    (result,) = render(objects, parse_event(json.dumps(raw)))
    (delivery,) = result["deliveries"]
    assert delivery["raw"].encode() == REFERENCE_BODY
    assert delivery["headers"]["X-Signature"] == REFERENCE_SIGNATURE
    assert delivery["headers"]["Gotk-Component"] == "source-controller"


def test_forwarded_event_reaches_commit_status_and_slack_with_its_fields(sink):
    body, headers = forwarded_request()
    assert json.loads(body)["metadata"] == {"revision": f"main@sha1:{SHA}", "summary": "production cluster"}
    status, messages = receive(body, headers)
    assert status == 202
    sink.handler = lambda r: (201 if r.method == "POST" else 200, {}, b"[]" if r.method == "GET" else b"{}")
    targets = f"""
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: github, namespace: flux-system, uid: 0c9c2e41-d2f9-4f9b-9c41-bebc1984d67a}}
spec: {{type: github, address: "{sink.url}/owner/repo", secretRef: {{name: gh}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: gh, namespace: flux-system}}
stringData: {{token: t0ken}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: slack, namespace: flux-system}}
spec: {{type: slack, address: "{sink.url}/slack"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: all, namespace: flux-system}}
spec:
  providerRef: {{name: github}}
  eventSources: [{{kind: Kustomization, name: "*"}}]
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: chat, namespace: flux-system}}
spec:
  providerRef: {{name: slack}}
  eventSources: [{{kind: Kustomization, name: "*"}}]
"""
    report = dispatch(targets, {}, body=messages[0])
    assert sorted(report.delivered) == ["flux-system/github", "flux-system/slack"], report.dead_letters
    posted = {r.path: r for r in sink.requests if r.method == "POST"}
    assert f"/api/v3/repos/owner/repo/statuses/{SHA}" in posted
    assert posted[f"/api/v3/repos/owner/repo/statuses/{SHA}"].json()["state"] == "failure"
    fields = posted["/slack"].json()["attachments"][0]["fields"]
    assert {"title": "revision", "value": f"main@sha1:{SHA}", "short": False} in fields
    assert {"title": "summary", "value": "production cluster", "short": False} in fields
