"""fluxnotify.io/message: Jinja2 templates in a sandbox (delivery/stages/templates.py)."""

from __future__ import annotations

import copy
import json
import logging
import threading
import time

import pytest
from exthelpers import SECRET_TOKEN, Harness, event, generic_manifests

from fluxnotify.delivery.stages import templatelimits, templates
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


# Each of these ran unbounded before the render budget (issue 21.3) or could build a huge value.
BOUNDLESS = {
    "nested-loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "power-tower": "{{ 2 ** (2 ** (2 ** (2 ** 2))) }}",
    "power-of-power": "{{ ((10 ** 64) ** 64) ** 64 }}",
    "int-squaring": ("{% set ns = namespace(x=3) %}{% for i in range(100) %}{% set ns.x = ns.x * ns.x %}"
                     "{% endfor %}{{ ns.x }}"),
    "lipsum": "{{ lipsum(10000000) }}",
    "indent": "{{ 'a' | indent(1000000000) }}",
    "indent-first": "{{ 'a\nb' | indent(1000000000, true) }}",
    "output-into-set-block": ("{% set b %}{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}"
                              "{% endset %}{{ b[:10] }}"),
    "output-into-macro": ("{% macro m() %}{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}"
                          "{% endmacro %}{{ m()[:10] }}"),
    "concat-doubling": ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                        "{% endfor %}{{ ns.s|length }}"),
    "plus-doubling": ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
                      "{% endfor %}{{ ns.s|length }}"),
    "str-center": "{{ 'a'.center(1000000000) }}",
    "center-filter": "{{ 'a'|center(1000000000) }}",
    "wordwrap": "{{ 'a b'|wordwrap(1000000000) }}",
    "format-width": "{{ '{:>1000000000}'.format(1) }}",
    "format-nested-width": "{{ '{:>{}}'.format(1, 1000000000) }}",
    "printf-width": "{{ '%1000000000d' % 1 }}",
    "format-filter-width": "{{ '%1000000000d'|format(1) }}",
    "replace-empty": "{{ ('a' * 100000).replace('', 'b' * 100000) }}",
    "join-filter": "{{ (['a' * 100000] * 100000)|join }}",
    "str-join": "{{ ('a' * 100000).join(['b'] * 100000) }}",
    "list-text": "{{ ['a' * 100000] * 100000 }}",
    "nested-list-text": "{% set a = ['x' * 1000] * 100 %}{% set b = [a] * 100 %}{{ [b] * 100 }}",
    "tojson": "{{ [['a' * 100000] * 1000]|tojson }}",
    "expandtabs": "{{ ('\t' * 100000).expandtabs(100000) }}",
    "to-bytes": "{{ (1).to_bytes(1000000000, 'big') }}",
    "batch-fill": "{{ [1]|batch(1000000000, 0)|list }}",
    "slice": "{{ [1]|slice(1000000000)|list }}",
    "sum-of-lists": "{{ ([[1] * 100000] * 100000)|sum(start=[]) }}",
    "translate": "{{ ('a' * 100000).translate({97: 'b' * 100000}) }}",
    "macro-fan-out": "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
    "recursive-loop": ("{% for x in [range(100000)] * 100000 recursive %}{% if x is iterable %}{{ loop(x) }}"
                       "{% endif %}{% endfor %}"),
    "loop-over-string": "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    "select-test": "{% for i in range(1000) %}{{ range(100000)|select('odd')|list|length }}{% endfor %}",
}


@pytest.mark.parametrize("template", BOUNDLESS.values(), ids=BOUNDLESS.keys())
def test_unbounded_template_ends_within_the_budget_and_falls_back(sink, caplog, template):
    templates._compile(template)  # compiled once per Alert; the budget is the render's
    metrics = CountingMetrics()
    harness = Harness(generic_manifests(sink.url, {"fluxnotify.io/message": template}), metrics=metrics)
    with caplog.at_level(logging.WARNING):
        started = time.monotonic()
        (result,) = harness.send(event(message="the original message"))
        elapsed = time.monotonic() - started
    assert elapsed < 1.0
    assert result.outcome == "delivered"
    assert sink.wait_for(1)[0].json()["message"] == "the original message"
    assert metrics.counts.count(("TemplateErrors", {"ProviderType": "generic-hmac"})) == 1
    (warning,) = [r for r in caplog.records if "message template failed" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert warning.error.startswith(("TemplateError", "TemplateBudgetExceeded"))


@pytest.mark.parametrize("template", BOUNDLESS.values(), ids=BOUNDLESS.keys())
def test_unbounded_template_leaves_no_thread_and_no_work_behind(template):
    templates._compile(template)
    alert, provider = _alert_and_provider({"fluxnotify.io/message": template})
    original = parse_event(json.dumps(event()))
    threads = set(threading.enumerate())
    started = time.monotonic()
    assert templates.apply(template, original, alert, provider, "") is original
    assert time.monotonic() - started < 1.0
    assert not set(threading.enumerate()) - threads  # no thread left running
    cpu = time.process_time()
    time.sleep(0.05)
    assert time.process_time() - cpu < 0.04  # nothing burns CPU after apply returned


def test_output_stops_at_the_cut_while_rendering():
    started = time.monotonic()
    text = templates.render("{% for i in range(100000) %}{{ 'x' * 100000 }}{% endfor %}", {})
    assert time.monotonic() - started < 1.0
    assert text == "x" * templatelimits.MAX_OUTPUT


def test_a_render_over_the_step_limit_stops_even_with_time_left():
    template = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    with pytest.raises(templatelimits.TemplateBudgetExceeded, match=f"more than {templatelimits.MAX_STEPS} steps"):
        templates.render(template, {}, seconds=60)


def test_a_render_over_the_deadline_stops():
    with pytest.raises(templatelimits.TemplateBudgetExceeded, match="longer than 0 ms"):
        templates.render("{% for i in range(3) %}{{ i }}{% endfor %}", {}, seconds=0)


def test_a_render_over_the_written_limit_stops():
    template = "{% set b %}{% for i in range(100) %}{{ 'x' * 100000 }}{% endfor %}{% endset %}"
    with pytest.raises(templatelimits.TemplateBudgetExceeded, match="written more than"):
        templates.render(template, {}, seconds=60)


NORMAL = [
    ("{% for k, v in event.metadata|dictsort %}{{ k }}={{ v }};{% endfor %}", "kustomize.toolkit.fluxcd.io/revision=main@sha1:1234;"),
    ("{{ '%-8s|%5.1f' % (event.reason[:6], 2.25) }}", "Reconc  |  2.2"),
    ("{{ '{:>6}|{}'.format(event.severity, event.involvedObject.name|upper) }}", "  info|APPS"),
    ("{{ (event.message ~ '!') * 2 }} {{ 2 ** 10 * 3 }} {{ [1, 2] + [3] }}", "applied!applied! 3072 [1, 2, 3]"),
    ("{{ event.message|center(11)|replace(' ', '.')|indent(2, true) }}", "  ..applied.."),
    ("{% set ns = namespace(n=0) %}{% for i in range(500) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
     "124750"),
    ("{{ lipsum(1, false, 3, 4).split()|length }} {{ range(5)|join(',') }}", "3 0,1,2,3,4"),
]


@pytest.mark.parametrize(("template", "expected"), NORMAL)
def test_ordinary_templates_render_within_the_budget(template, expected):
    values = templates.context(parse_event(json.dumps(event())), *_alert_and_provider({}), "")
    assert templates.render(template, values) == expected


def _alert_and_provider(annotations: dict[str, str]):
    objects = load_yaml(generic_manifests("http://127.0.0.1:1", annotations))
    return (next(o for o in objects if o.kind == "Alert"), next(o for o in objects if o.kind == "Provider"))


REWRITING = [
    "{{ alert.metadata.annotations.update({'fluxnotify.io/message': 'rewritten'}) }}",
    "{{ alert.metadata.annotations.pop('fluxnotify.io/message') }}",
    "{{ alert.spec.eventSources.append({'kind': 'GitRepository', 'name': '*'}) }}",
    "{{ provider.spec.update({'address': 'http://127.0.0.1:9/elsewhere'}) }}",
    "{{ event.metadata.update({'revision': 'rewritten'}) }}",
    "{{ event.involvedObject.clear() }}",
    "{{ event.metadata.setdefault('new', 'value') }}",
]


@pytest.mark.parametrize("template", REWRITING)
def test_a_template_cannot_change_the_configuration_or_the_event(sink, template):
    """Refused (the original message), and the next delivery runs the configured template again."""
    metrics = CountingMetrics()
    harness = Harness(generic_manifests(sink.url, {"fluxnotify.io/message": template}), metrics=metrics)
    harness.send(event(message="first"))
    harness.send(event(message="second"))
    first, second = (r.json() for r in sink.wait_for(2))
    assert (first["message"], second["message"]) == ("first", "second")
    assert first["metadata"] == second["metadata"] == {"revision": "main@sha1:1234", "summary": "prod cluster"}
    assert [name for name, _ in metrics.counts].count("TemplateErrors") == 2
    (alert,) = harness.dispatcher.store.alerts()
    assert alert.metadata.annotations == {"fluxnotify.io/message": template}  # as configured


def test_the_template_context_is_a_copy():
    annotations = {"fluxnotify.io/message": "{{ event.reason }}"}
    alert, provider = _alert_and_provider(annotations)
    original = parse_event(json.dumps(event()))
    kept = copy.deepcopy((original, alert.as_dict(), provider.as_dict()))
    values = templates.context(original, alert, provider, "")
    values["alert"]["metadata"]["annotations"]["fluxnotify.io/message"] = "rewritten"
    values["event"]["metadata"]["revision"] = "rewritten"
    values["provider"]["spec"]["address"] = "http://127.0.0.1:9/elsewhere"
    assert (original, alert.as_dict(), provider.as_dict()) == kept
