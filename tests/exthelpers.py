"""Manifests and events for the fluxnotify.io/* extension tests (docs/extensions.md)."""

from __future__ import annotations

import json

from fluxnotify.config.files import FileStore
from fluxnotify.model.manifests import load_yaml
from fluxnotify.queue.messages import new_envelope
from helpers import MemoryQueue, door, make_dispatcher

V = "notification.toolkit.fluxcd.io/v1beta3"
SECRET_TOKEN = "provider-secret-token-7f3a9c"


def annotated(annotations: dict[str, str]) -> str:
    return json.dumps(annotations) if annotations else "{}"


def generic_manifests(sink_url: str, annotations: dict[str, str] | None = None, *,
                      sources: str = "[{kind: Kustomization, name: '*'}]", alert_ns: str = "flux-system",
                      name: str = "team") -> str:
    """A generic-hmac Provider (its Secret holds SECRET_TOKEN) and an annotated Alert."""
    return f"""
apiVersion: v1
kind: Secret
metadata: {{name: {name}-key, namespace: {alert_ns}}}
stringData: {{token: {SECRET_TOKEN}}}
---
apiVersion: {V}
kind: Provider
metadata: {{name: {name}, namespace: {alert_ns}}}
spec: {{type: generic-hmac, address: "{sink_url}/{name}", secretRef: {{name: {name}-key}}}}
---
apiVersion: {V}
kind: Alert
metadata:
  name: {name}
  namespace: {alert_ns}
  annotations: {annotated(annotations or {})}
spec:
  providerRef: {{name: {name}}}
  summary: prod cluster
  eventSources: {sources}
"""


def event(name: str = "apps", *, reason: str = "ReconciliationSucceeded", message: str = "applied",
          severity: str = "info", namespace: str = "flux-system", kind: str = "Kustomization",
          timestamp: str = "2026-01-01T00:00:00Z") -> dict:
    group = {"Kustomization": "kustomize", "HelmRelease": "helm"}.get(kind, "source")
    return {
        "involvedObject": {"kind": kind, "namespace": namespace, "name": name,
                           "apiVersion": f"{group}.toolkit.fluxcd.io/v1"},
        "severity": severity, "timestamp": timestamp, "message": message, "reason": reason,
        "metadata": {f"{group}.toolkit.fluxcd.io/revision": "main@sha1:1234"},
        "reportingController": f"{group}-controller",
    }


class Harness:
    """A real Dispatcher on one config with in-memory queues (its state: an in-memory SQLite file)."""

    def __init__(self, manifests: str, **options):
        self.queue, self.dead = MemoryQueue(), MemoryQueue()
        self.dispatcher = make_dispatcher(FileStore(load_yaml(manifests)), self.queue, self.dead, **options)

    def send(self, data: dict, *, cluster: str = "default", message_id: str | None = None):
        envelope = new_envelope(door(data), cluster)
        if message_id is not None:
            envelope.id = message_id
        return self.dispatcher.handle(envelope.to_json())

    def take_queued(self) -> list[tuple[str, int]]:
        messages, self.queue.messages = self.queue.messages, []
        return messages
