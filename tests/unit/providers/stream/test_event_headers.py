"""Event data in headers (issue 13.6): reportingController becomes generic's Gotk-Component
header; no control character reaches the wire, and a non-Latin-1 value is delivered (as its
UTF-8 bytes, the way Go sends it), never dead-lettered."""

from __future__ import annotations

import pytest

from fluxnotify.providers.base import header_value
from fluxnotify.transport.http import wire_headers
from helpers import dispatch

MANIFESTS = """
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: hook, namespace: flux-system}}
spec: {{type: {type}, address: "{url}/hook", secretRef: {{name: hook}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: hook, namespace: flux-system}}
stringData: {{token: hmac-key}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: hook, namespace: flux-system}}
spec:
  providerRef: {{name: hook}}
  eventSources: [{{kind: Kustomization, name: "*"}}]
"""


def event(controller: str) -> dict:
    return {
        "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"},
        "severity": "info", "message": "m", "reason": "r", "reportingController": controller,
    }


@pytest.mark.parametrize("type_", ["generic", "generic-hmac"])
@pytest.mark.parametrize("controller, expected", [
    ("kustomize-controller", "kustomize-controller"),
    ("kustomize-controller\r\n X-Injected: yes", "kustomize-controller X-Injected: yes"),  # obs-fold
    ("a\r\nX-Injected: yes", "a X-Injected: yes"),
    ("nul\x00and\x07bell\x7f", "nulandbell"),
    ("tab\there", "tabhere"),
    ("contrôleur-漢字-🚀", "contrôleur-漢字-🚀"),
    ("", ""),
])  # fmt: skip
def test_gotk_component_on_the_wire(sink, type_, controller, expected):
    report = dispatch(MANIFESTS.format(type=type_, url=sink.url), event(controller))
    assert report.delivered == ["flux-system/hook"], report.dead_letters
    (request,) = sink.requests
    assert request.header("X-Injected") is None
    # The capture server decodes header bytes as Latin-1: undo that to see the bytes sent.
    assert request.header("Gotk-Component").encode("latin-1").decode("utf-8") == expected


def test_header_value_and_wire_encoding():
    assert header_value("x\r\n\t y\n\nz") == "x y z"
    assert wire_headers({"A": "é", "B": "ascii"}) == {"A": "Ã©", "B": "ascii"}
    assert wire_headers({"A": "\ud800"})["A"].encode("latin-1") == b"?"
