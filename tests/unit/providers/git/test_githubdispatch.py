"""githubdispatch (spec §5.21): the dispatch request, its client, failures, Flux's docs example."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fixtures.git.forge_fixtures import (
    TOKEN,
    closed_port_url,
    comment_event,
    config,
    docs_yaml,
    manifests,
    raw_event,
    ready,
    render_text,
)

from fluxnotify.config.options import ConfigError
from fluxnotify.model.event import ObjectRef
from fluxnotify.providers.git import githubdispatch
from fluxnotify.transport.http import DeliveryError, Transport
from helpers import dispatch

HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/vnd.github.v3+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "go-github/v64.0.0",
    "Content-Type": "application/json",
}


def test_render_the_docs_example_event():
    """The docs' Kustomization/podinfo.flux-system event type and summary in the payload."""
    text = docs_yaml("githubdispatch").replace("namespace: default", "namespace: flux-system")
    raw = raw_event()
    raw["message"] = "Reconciliation finished <in 2s> & healthy"
    [result] = render_text(text, raw)
    assert result["error"] is None and result["skipped"] is None
    [delivery] = result["deliveries"]
    assert delivery["method"] == "POST"
    assert delivery["url"] == "https://api.github.com/repos/stefanprodan/podinfo/dispatches"
    assert delivery["headers"] == {**HEADERS, "Authorization": "Bearer <personal-access-tokens>"}
    payload = {
        "involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "podinfo",
                           "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
        "severity": "info",
        "timestamp": "2024-05-06T07:08:09Z",
        "message": "Reconciliation finished <in 2s> & healthy",
        "reason": "ReconciliationSucceeded",
        "metadata": {"change_request": "42", "commit": raw["metadata"]["event.toolkit.fluxcd.io/commit"],
                     "revision": raw["metadata"]["kustomize.toolkit.fluxcd.io/revision"],
                     "summary": "staging (us-west-2)"},
        "reportingController": "kustomize-controller",
    }  # fmt: skip
    assert delivery["body"] == {"event_type": "Kustomization/podinfo.flux-system", "client_payload": payload}
    # byte for byte: the embedded event is Go-JSON (HTML escaped), the envelope go-github's (with '\n')
    gojson_event = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    gojson_event = gojson_event.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    assert delivery["raw"] == (
        '{"event_type":"Kustomization/podinfo.flux-system","client_payload":' + gojson_event + "}\n"
    )


def test_event_type_keeps_the_kind_case_and_is_not_html_escaped():
    evt = replace(comment_event(), involved_object=ObjectRef(kind="HelmRelease", namespace="a&b", name="<x>"))
    [request] = githubdispatch.encode(evt, config("githubdispatch", "https://github.com/o/r"))
    assert request.body.startswith(b'{"event_type":"HelmRelease/<x>.a&b","client_payload":{')


def test_enterprise_base_and_password_fallback():
    conf = config("githubdispatch", "https://ghe.example.com/o/r", token="", password="pw")
    [request] = githubdispatch.encode(comment_event(), conf)
    assert request.url == "https://ghe.example.com/api/v3/repos/o/r/dispatches"
    assert request.headers["Authorization"] == "Bearer pw"


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"token": ""}, "github token or github app details must be specified"),
        ({"address": "https://github.com/owner"}, "invalid repository id: 'owner'"),
        ({"address": "https://github.com/a/b/c"}, "invalid repository id: 'a/b/c'"),
        ({"address": ""}, "invalid repository id: ''"),
        ({"token": "", "secret": {"githubAppID": "1", "githubAppPrivateKey": "k"}},
         "app installation owner or ID must be provided to use github app authentication"),
    ],
)  # fmt: skip
def test_config_errors(values, text):
    address = values.pop("address", "https://github.com/o/r")
    with pytest.raises(ConfigError) as err:
        githubdispatch.validate(config("githubdispatch", address, **values))
    assert str(err.value) == text


def test_no_commit_status_is_needed():
    githubdispatch.validate(config("githubdispatch", "https://github.com/o/r", commit_status=""))


def test_dispatch_over_the_wire(sink):
    sink.default = (204, {}, b"")
    report = dispatch(manifests("githubdispatch", f"{sink.url}/owner/repo"), raw_event())
    assert report.delivered == ["flux-system/git"]
    [request] = sink.requests
    assert (request.method, request.path) == ("POST", "/api/v3/repos/owner/repo/dispatches")
    assert {k: request.header(k) for k in HEADERS} == HEADERS
    assert request.json()["event_type"] == "Kustomization/podinfo.flux-system"
    assert request.json()["client_payload"]["metadata"]["change_request"] == "42"
    assert request.body.endswith(b"}\n")


def test_commit_status_update_events_are_not_dispatched(sink):
    raw = raw_event(**{"kustomize.toolkit.fluxcd.io/commit_status": "update"})
    report = dispatch(manifests("githubdispatch", f"{sink.url}/owner/repo"), raw)
    assert report.skipped and sink.requests == []


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (502, True), (429, True), (404, False), (422, False), (401, False), (202, False), (501, False)],
)
def test_failures_are_classified(sink, status, retryable):
    sink.default = (status, {}, b'{"message":"no"}')
    conf = config("githubdispatch", f"{sink.url}/owner/repo")
    with pytest.raises(DeliveryError) as err:
        githubdispatch.deliver(comment_event(), conf, Transport())
    assert str(err.value).startswith("could not send github repository dispatch webhook: ")
    assert err.value.retryable is retryable
    assert TOKEN not in str(err.value)


def test_connection_refused_is_retried_and_client_errors_dead_lettered(sink):
    report = dispatch(manifests("githubdispatch", f"{closed_port_url()}/owner/repo"), raw_event())
    assert [m["targets"] for m in report.retries] == [["flux-system/git"]] and report.dead_letters == []
    sink.default = (403, {}, b'{"message":"Resource not accessible by personal access token"}')
    report = dispatch(manifests("githubdispatch", f"{sink.url}/owner/repo"), raw_event())
    [letter] = report.dead_letters
    assert "403" in letter["error"] and TOKEN not in letter["error"] and report.retries == []


def test_flux_docs_example_validates_as_flux_would():
    verdict = ready(docs_yaml("githubdispatch"))
    # as written, the docs' Secret lives in another namespace than the Provider: Flux cannot read it
    assert verdict["Provider/flux-system/github-dispatch"] == (
        "False", "failed to get secret 'flux-system/api-token': secret not found")
    assert verdict["Alert/flux-system/github-dispatch"][0] == "False"  # Flux: Ready only with a Ready Provider
    fixed = docs_yaml("githubdispatch").replace("namespace: default", "namespace: flux-system")
    assert ready(fixed)["Provider/flux-system/github-dispatch"] == ("True", "Initialized")


def test_uid_is_not_needed():
    githubdispatch.validate(replace(config("githubdispatch", "https://github.com/o/r"), uid=""))
