"""`fluxnotify test`: send one notification to one Provider and show what happened (issue 24.5).

The real path, once: the planner plans the Provider alone (as `render` previews a Provider no
Alert references: Alert routing is not consulted, the Provider's own drop rules and
annotations are), the dispatcher's send step (delivery/sendone.py) sends it, and the command
prints the planned requests (credentials masked as `render` masks them), each answer the
provider gave (status and a body excerpt) and the outcome: delivered (exit 0), or failed,
retryable or permanent, or not sent and why (exit 1). No retry, no dead letter, no state.
"""

from __future__ import annotations

import http
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fluxnotify.delivery.annotations import DEFAULT_CLUSTER
from fluxnotify.delivery.plan import Context
from fluxnotify.delivery.planner import Planner
from fluxnotify.delivery.sendone import deliver_planned
from fluxnotify.errors import Outcome
from fluxnotify.ingress.clusters import tag_cluster
from fluxnotify.model.event import Event, clean_metadata, strip_internal
from fluxnotify.model.manifests import Manifest, Provider, Secret
from fluxnotify.ops.render import delivery_json, secrets_of
from fluxnotify.ops.rendermask import mask_value
from fluxnotify.state.stores import Stores
from fluxnotify.transport.failures import EXCERPT
from fluxnotify.transport.http import DeliveryError, Request, Response, Transport

# What kustomize-controller posts after a successful reconciliation (the package must not
# read the repository's events/ at run time).
SAMPLE_EVENT: dict[str, Any] = {
    "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps",
                       "uid": "7a3c1d2e-5b4f-4e1a-9c8d-2f6e0b1a3c4d",
                       "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
    "severity": "info",
    "timestamp": "2026-01-01T00:00:00Z",
    "message": "fluxnotify test: this notification checks the Provider's configuration",
    "reason": "ReconciliationSucceeded",
    "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07"},
    "reportingController": "kustomize-controller",
    "reportingInstance": "kustomize-controller-0",
}


class RecordingTransport(Transport):
    """The usual transport, keeping every answer (or transport failure) for the report."""

    def __init__(self) -> None:
        super().__init__(num_pools=4, maxsize=1)
        self.exchanges: list[tuple[Request, Response | DeliveryError]] = []

    def send(self, request: Request, **options: Any) -> Response:
        try:
            response = super().send(request, **options)
        except DeliveryError as err:
            self.exchanges.append((request, err))
            raise
        self.exchanges.append((request, response))
        return response


@dataclass
class Trial:
    lines: list[str]
    code: int  # 0 delivered, 1 otherwise


def send_test(objects: list[Manifest], provider_key: str, raw_event: Event, cluster: str = "",
              show_secrets: bool = False, transport: RecordingTransport | None = None) -> Trial:
    found = {o.metadata.key: o for o in objects if isinstance(o, Provider)}
    provider = found.get(provider_key)
    if provider is None:
        known = ", ".join(found) or "none"
        return Trial([f"no Provider {provider_key} in the files (Providers found: {known})"], 1)
    secrets = {o.metadata.key: o.data for o in objects if isinstance(o, Secret)}
    planner = Planner(lambda ns, n: found.get(f"{ns}/{n}"), lambda ns, n: secrets.get(f"{ns}/{n}"))
    cluster = cluster or DEFAULT_CLUSTER
    event = tag_cluster(strip_internal(clean_metadata(raw_event)), cluster)
    planned = planner.plan_one(event, None, provider, Context(cluster))
    hidden = [] if show_secrets else secrets_of(planned, planner.get_secret)

    def shown(value: Any) -> Any:
        return mask_value(value, hidden)

    lines = [f"Provider {provider_key} (type {provider.spec.type}), event {event.involved_object.kind}/"
             f"{event.involved_object.namespace}/{event.involved_object.name} {event.reason}"]
    try:
        planned_requests = [delivery_json(d, planned.config) for d in planned.requests()]
    except Exception:  # the send below meets the same error and classifies it
        planned_requests = []
    for request in planned_requests:
        lines.append("sending: " + json.dumps(shown(_brief(request)), ensure_ascii=False))
    transport = transport or RecordingTransport()
    sent = deliver_planned(planned, transport, Stores.memory().threads, cluster)
    lines += [_answer(request, answer, shown) for request, answer in transport.exchanges]
    detail = shown(sent.detail)
    if sent.outcome == Outcome.DELIVERED:
        return Trial([*lines, "result: delivered"], 0)
    if sent.outcome.failed:
        kind = "retryable (serve would retry with back-off)" if sent.retryable else "permanent (serve would dead-letter it)"
        return Trial([*lines, f"result: failed, {kind}: {detail}"], 1)
    return Trial([*lines, f"result: not sent ({sent.outcome.value}): {detail}"], 1)


def _brief(request: dict[str, Any]) -> dict[str, Any]:
    """A planned request without the raw body text (the parsed body says it)."""
    return {key: value for key, value in request.items() if key not in ("raw", "proxy", "timeout")}


def _answer(request: Request, answer: Response | DeliveryError, shown: Callable[[Any], Any]) -> str:
    who = f"{request.method} {shown(request.url)}"
    if isinstance(answer, DeliveryError):
        return f"answer to {who}: no answer: {shown(str(answer))}"
    try:
        phrase = " " + http.HTTPStatus(answer.status).phrase
    except ValueError:
        phrase = ""
    body = " ".join(shown(answer.text).split())
    body = body[:EXCERPT] + "…" if len(body) > EXCERPT else body
    return f"answer to {who}: {answer.status}{phrase}" + (f": {body}" if body else "")

