"""Shared builders for the commit-status provider tests (github, gitlab, bitbucket, azuredevops)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from fluxnotify.event import Event, ObjectRef, parse_event
from fluxnotify.manifests import load_yaml
from fluxnotify.options import ProviderConfig
from fluxnotify.render import render
from fluxnotify.transport import Request, Response, TLSMaterial

SHA = "a1afe267b54f38b46b487f6e938a6fd508278c07"
UID = "0c9c2e41-d2f9-4f9b-9c41-bebc1984d67a"
CONTEXT = "kustomization/gitops-system/0c9c2e41"


def event(
    severity: str = "info",
    reason: str = "ReconciliationSucceeded",
    metadata: dict[str, str] | None = None,
) -> Event:
    """The provider's view: bare metadata keys (after the server's merge)."""
    return Event(
        involved_object=ObjectRef(
            kind="Kustomization", namespace="flux-system", name="gitops-system",
            api_version="kustomize.toolkit.fluxcd.io/v1",
        ),
        severity=severity,
        message="message",
        reason=reason,
        metadata={"revision": f"main@sha1:{SHA}"} if metadata is None else metadata,
        reporting_controller="kustomize-controller",
    )  # fmt: skip


def config(provider_type: str, address: str, **values) -> ProviderConfig:
    values.setdefault("commit_status", CONTEXT)
    return ProviderConfig(
        namespace="flux-system", name="git", uid=UID, type=provider_type, address=address, **values
    )


def body(request: Request):
    return json.loads(request.body)


def raw_event(severity: str = "info", reason: str = "ReconciliationSucceeded", **metadata: str) -> dict:
    """The event as kustomize-controller posts it (prefixed metadata keys)."""
    data = {
        "involvedObject": {
            "kind": "Kustomization", "namespace": "flux-system", "name": "gitops-system",
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        },
        "severity": severity,
        "timestamp": "2024-05-06T07:08:09Z",
        "message": "Applied revision",
        "reason": reason,
        "metadata": {
            "kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{SHA}",
            "event.toolkit.fluxcd.io/commit": SHA,
            **metadata,
        },
        "reportingController": "kustomize-controller",
    }  # fmt: skip
    return data


def provider_yaml(
    provider_type: str,
    address: str,
    token: str | None = "t0ken",
    *,
    extra_spec: str = "",
    secret_extra: str = "",
    uid: str = UID,
) -> str:
    secret_ref = "\n  secretRef: {name: git-token}" if token is not None else ""
    text = f"""
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: git, namespace: flux-system, uid: {uid}}}
spec:
  type: {provider_type}
  address: {address}{secret_ref}{extra_spec}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: git, namespace: flux-system}}
spec:
  providerRef: {{name: git}}
  eventSources: [{{kind: Kustomization, name: '*'}}]
"""
    if token is not None:
        text += f"""---
apiVersion: v1
kind: Secret
metadata: {{name: git-token, namespace: flux-system}}
stringData:
  token: {json.dumps(token)}{secret_extra}
"""
    return text


def render_yaml(manifests: str, raw: dict) -> dict:
    results = render(load_yaml(manifests), parse_event(json.dumps(raw)))
    assert len(results) == 1
    return results[0]


@dataclass
class FakeTransport:
    """Answers from a list (or a function) and records every request with its options."""

    answers: list = field(default_factory=list)
    sent: list[tuple[Request, dict]] = field(default_factory=list)

    def send(
        self, request: Request, *, proxy: str = "", tls: TLSMaterial | None = None, timeout: float = 15.0
    ) -> Response:
        self.sent.append((request, {"proxy": proxy, "tls": tls, "timeout": timeout}))
        answer = self.answers.pop(0)
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, Exception):
            raise answer
        status, payload = answer
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return Response(status, {}, data)

    @property
    def requests(self) -> list[Request]:
        return [request for request, _ in self.sent]
