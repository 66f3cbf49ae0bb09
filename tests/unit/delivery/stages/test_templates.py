"""fluxnotify.io/message: Jinja2 templates in a sandbox (delivery/stages/templates.py)."""

from __future__ import annotations

import json
import logging

import pytest
from exthelpers import SECRET_TOKEN, Harness, event, generic_manifests

from fluxnotify.model.event import parse_event
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.render import render
from fluxnotify.ops.validate import conditions

TEMPLATE = ("{{ event.involvedObject.kind }}/{{ event.involvedObject.name }} in {{ cluster or 'home' }}: "
            "{{ event.reason }} ({{ event.metadata.revision }}, {{ event.metadata.summary }}) "
            "via {{ alert.metadata.name }} → {{ provider.spec.type }}")


class CountingMetrics:
    def __init__(self):
        self.counts: list[tuple[str, dict]] = []

    def count(self, name, dimensions=None, value=1):
        self.counts.append((name, dimensions or {}))

    def milliseconds(self, name, value, dimensions=None):
        pass


def test_template_replaces_the_message_with_event_alert_provider_and_cluster(sink):
    harness = Harness(generic_manifests(sink.url, {"fluxnotify.io/message": TEMPLATE}))
    harness.send(event(), cluster="prod-eu")
    harness.send(event("infra"))
    first, second = (r.json() for r in sink.wait_for(2))
    assert first["message"] == ("Kustomization/apps in prod-eu: ReconciliationSucceeded "
                                "(main@sha1:1234, prod cluster) via team → generic-hmac")
    assert second["message"].startswith("Kustomization/infra in home: ")
    assert first["reason"] == "ReconciliationSucceeded"  # only the message changes


HOSTILE = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ '{0.__class__.__mro__}'.format(event) }}",
    "{{ event.__class__ }}",
    "{{ environ }}{{ os }}{{ config }}",
    "{{ range.__self__ }}",
    "{{ 'x' * 100000000 }}",
    "{{ 10 ** 100000000 }}",
    "{% for i in range(100000000) %}{% endfor %}",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_template_falls_back_and_reaches_nothing(sink, monkeypatch, caplog, template):
    monkeypatch.setenv("FLUXNOTIFY_CANARY", "canary-env-value-2b9e")
    metrics = CountingMetrics()
    harness = Harness(generic_manifests(sink.url, {"fluxnotify.io/message": template}), metrics=metrics)
    with caplog.at_level(logging.WARNING):
        (result,) = harness.send(event(message="the original message"))
    assert result.outcome == "delivered"
    (request,) = sink.wait_for(1)
    assert request.json()["message"] == "the original message"
    assert ("TemplateErrors", {"ProviderType": "generic-hmac"}) in metrics.counts
    assert any("message template failed" in r.getMessage() for r in caplog.records)
    everything = request.body.decode() + caplog.text
    for leaked in ("canary-env-value-2b9e", SECRET_TOKEN, "<class", "<module"):
        assert leaked not in everything


def test_provider_secret_is_not_in_the_context(sink):
    template = "{{ provider }}|{{ alert }}|{{ event }}"
    harness = Harness(generic_manifests(sink.url, {"fluxnotify.io/message": template}))
    harness.send(event())
    message = sink.wait_for(1)[0].json()["message"]
    assert "team-key" in message  # the Secret's name, as the Provider spells it
    assert SECRET_TOKEN not in message


def test_undefined_variable_falls_back_to_the_original_message(sink):
    harness = Harness(generic_manifests(sink.url, {"fluxnotify.io/message": "{{ event.nope.deeper }}"}))
    harness.send(event(message="kept"))
    assert sink.wait_for(1)[0].json()["message"] == "kept"


def test_syntax_error_makes_the_alert_not_ready_with_the_line():
    objects = load_yaml(generic_manifests("http://127.0.0.1:1", {
        "fluxnotify.io/message": "line one\n{{ event.reason }\nline three"}))
    found = {c.key: c for c in conditions(objects) if c.kind == "Alert"}
    condition = found["flux-system/team"]
    assert not condition.ready
    assert "fluxnotify.io/message" in condition.message and "line 2" in condition.message


def test_render_shows_the_templated_message():
    objects = load_yaml(generic_manifests("http://127.0.0.1:1", {"fluxnotify.io/message": TEMPLATE}))
    (result,) = render(objects, parse_event(json.dumps(event())))
    assert result["error"] is None
    assert result["deliveries"][0]["body"]["message"].startswith("Kustomization/apps in home: ")


def test_commit_status_description_is_the_template():
    text = """
apiVersion: v1
kind: Secret
metadata: {name: gh, namespace: flux-system}
stringData: {token: ghp_secret_0123}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: gh, namespace: flux-system}
spec: {type: github, address: "https://github.com/org/repo", secretRef: {name: gh}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: gh
  namespace: flux-system
  annotations: {fluxnotify.io/message: "{{ event.reason }} at {{ event.metadata.revision }}"}
spec:
  providerRef: {name: gh}
  eventSources: [{kind: Kustomization, name: '*'}]
"""
    data = event()
    data["metadata"]["kustomize.toolkit.fluxcd.io/revision"] = "main@sha1:" + "a" * 40
    data["metadata"]["event.toolkit.fluxcd.io/commit"] = "a" * 40
    (result,) = render(load_yaml(text), parse_event(json.dumps(data)))
    assert result["error"] is None, result
    body = result["deliveries"][-1]["body"]
    assert body["description"] == "ReconciliationSucceeded at main@sha1:" + "a" * 40
