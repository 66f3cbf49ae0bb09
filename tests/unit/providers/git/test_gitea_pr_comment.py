"""giteapullrequestcomment (spec §5.25, §5.0 change-request rules): probe, identity, create then update."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fixtures.git.forge_fixtures import (
    TOKEN,
    UID,
    CommentHost,
    comment_event,
    config,
    docs_yaml,
    expected_comment,
    manifests,
    raw_event,
    ready,
    render_text,
)
from fixtures.git.gitstatus_fixtures import FakeTransport

from fluxnotify.config.options import ConfigError
from fluxnotify.providers.base import ProviderError
from fluxnotify.providers.git import giteapullrequestcomment
from fluxnotify.transport.http import DeliveryError, TLSMaterial, Transport
from helpers import dispatch

MARKER = f"<!-- flux-pr-comment-key:{UID}/Kustomization/flux-system/podinfo -->"
REVISION = "main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07"
COMMENTS = "/api/v1/repos/owner/repo/issues/42/comments"


def test_render_gives_the_create_request():
    [result] = render_text(manifests("giteapullrequestcomment", "https://gitea.example.com/org/app"), raw_event())
    assert result["error"] is None and result["skipped"] is None
    [delivery] = result["deliveries"]
    assert delivery["method"] == "POST"
    assert delivery["url"] == "https://gitea.example.com/api/v1/repos/org/app/issues/42/comments"
    assert delivery["headers"] == {"Authorization": f"token {TOKEN}", "Content-Type": "application/json"}
    body = (
        f"{MARKER}\n\n## Flux Status\n\n\u2139\ufe0f Kustomization/flux-system/podinfo\n\n"
        f"Applied revision {REVISION}\n\nMetadata:\n* `commit`: {REVISION[10:]}\n* `revision`: {REVISION}\n"
    )
    assert delivery["body"] == {"body": body}
    assert delivery["raw"].startswith('{"body":"\\u003c!-- flux-pr-comment-key:')


def test_body_of_an_error_event_with_summary():
    evt = comment_event("error", "install failed", summary="prod eu")
    [request] = giteapullrequestcomment.encode(evt, config("giteapullrequestcomment", "https://g/o/r"))
    assert json.loads(request.body)["body"] == (
        f"{MARKER}\n\n## Flux Status\n\n\u26a0\ufe0f Kustomization/flux-system/podinfo\n\ninstall failed\n\n"
        f"Metadata:\n* `revision`: {REVISION}\n* `summary`: prod eu\n"
    )


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"uid": ""}, "provider UID cannot be empty"),
        ({"uid": "", "token": ""}, "provider UID cannot be empty"),
        ({"token": ""}, "gitea token cannot be empty"),
        ({"address": "https://gitea.example.com/o"}, 'invalid repository id "o"'),
        ({"proxy": "http://p:port/"}, "invalid proxy URL"),
    ],
)
def test_config_errors(values, text):
    address = values.pop("address", "https://gitea.example.com/o/r")
    conf = replace(config("giteapullrequestcomment", address), **values)
    with pytest.raises(ConfigError) as err:
        giteapullrequestcomment.validate(conf)
    assert str(err.value) == text


def test_no_commit_status_is_needed_and_password_is_the_fallback_token():
    conf = config("giteapullrequestcomment", "https://g/o/r", token="", password="pw", commit_status="")
    giteapullrequestcomment.validate(conf)
    [request] = giteapullrequestcomment.encode(comment_event(), conf)
    assert request.headers["Authorization"] == "token pw"


def test_event_errors():
    conf = config("giteapullrequestcomment", "https://g/o/r")
    with pytest.raises(ProviderError, match='^invalid "change_request" metadata value "#3": '):
        giteapullrequestcomment.encode(comment_event(change_request="#3"), conf)
    with pytest.raises(ProviderError, match='^missing "change_request" metadata key$'):
        giteapullrequestcomment.encode(replace(comment_event(), metadata={}), conf)


@pytest.fixture
def host(sink):
    return CommentHost(sink, "gitea")


def pr_manifests(sink) -> str:
    return manifests("giteapullrequestcomment", f"{sink.url}/owner/repo")


def test_first_event_creates_the_comment_and_later_ones_update_it(host, sink):
    report = dispatch(pr_manifests(sink), raw_event())
    assert report.delivered == ["flux-system/git"]
    assert host.calls() == [
        ("GET", "/api/v1/version"),
        ("GET", "/api/v1/user"),
        ("GET", COMMENTS + "?limit=100&page=1"),
        ("POST", COMMENTS),
    ]
    assert {r.header("Authorization") for r in sink.requests} == {f"token {TOKEN}"}
    create = sink.requests[-1]
    assert create.header("Content-Type") == "application/json"
    [comment] = host.comments
    assert create.json() == {"body": expected_comment("flux-pr-comment-key")}

    report = dispatch(pr_manifests(sink), raw_event("error", "HealthCheckFailed"))
    assert report.delivered == ["flux-system/git"]
    assert host.calls()[4:] == [
        ("GET", "/api/v1/version"),
        ("GET", "/api/v1/user"),
        ("GET", COMMENTS + "?limit=100&page=1"),
        ("PATCH", f"/api/v1/repos/owner/repo/issues/comments/{comment['id']}"),
    ]
    assert sink.requests[-1].json() == {"body": expected_comment("flux-pr-comment-key", "error")}
    assert len(host.comments) == 1


def test_a_comment_by_someone_else_is_not_taken_over(host, sink):
    host.add(f"{MARKER}\n\ncopied by a reviewer", login="reviewer")
    dispatch(pr_manifests(sink), raw_event())
    assert host.calls()[-1] == ("POST", COMMENTS)
    assert host.comments[0]["body"].endswith("copied by a reviewer")


@pytest.mark.parametrize(
    ("method", "part", "status", "prefix", "retryable"),
    [
        ("GET", "/version", 502, "failed creating Gitea client: ", True),
        ("GET", "/user", 401, "failed to get authenticated user info: ", False),
        ("GET", "/comments", 500, "failed to list pull request comments: ", True),
        ("GET", "/comments", 404, "failed to list pull request comments: ", False),
        ("POST", "/comments", 403, "failed to create pull request comment: ", False),
        ("POST", "/comments", 429, "failed to create pull request comment: ", True),
    ],
)
def test_failures_are_classified_and_never_show_the_token(host, sink, method, part, status, prefix, retryable):
    host.fail(method, part, status)
    with pytest.raises(DeliveryError) as err:
        giteapullrequestcomment.deliver(
            comment_event(), config("giteapullrequestcomment", f"{sink.url}/owner/repo"), Transport()
        )
    assert str(err.value).startswith(prefix)
    assert err.value.retryable is retryable
    assert TOKEN not in str(err.value)


def test_update_failure_is_reported(host, sink):
    host.add(f"{MARKER}\n\nold")
    host.fail("PATCH", "/comments/", 500)
    with pytest.raises(DeliveryError) as err:
        giteapullrequestcomment.deliver(
            comment_event(), config("giteapullrequestcomment", f"{sink.url}/owner/repo"), Transport()
        )
    assert str(err.value).startswith("failed to update pull request comment: ") and err.value.retryable


def test_proxy_and_tls_are_honoured():
    tls = TLSMaterial(ca="CA")
    transport = FakeTransport([(200, {"version": "1.21.0"}), (200, {"login": "bot"}), (200, []), (201, {})])
    conf = config("giteapullrequestcomment", "https://g.example.com/o/r", tls=tls, proxy="http://proxy:3128")
    giteapullrequestcomment.deliver(comment_event(), conf, transport)
    assert [options for _, options in transport.sent] == [{"proxy": "http://proxy:3128", "tls": tls, "timeout": 15.0}] * 4


def test_dispatcher_retries_and_dead_letters(host, sink):
    host.fail("GET", "/version", 503)
    report = dispatch(pr_manifests(sink), raw_event())
    assert [m["targets"] for m in report.retries] == [["flux-system/git"]]
    host.fail("POST", "/comments", 422)
    report = dispatch(pr_manifests(sink), raw_event())
    [letter] = report.dead_letters
    assert letter["error"].startswith("failed to create pull request comment: ") and TOKEN not in json.dumps(letter)


def test_flux_docs_example_is_ready():
    verdict = ready(docs_yaml("giteapullrequestcomment"))
    assert verdict["Provider/app-preview/gitea-pr-comment"] == ("True", "Initialized")
    assert verdict["Alert/app-preview/gitea-pr-comment"] == ("True", "Initialized")
    no_repo = docs_yaml("giteapullrequestcomment").replace("https://gitea.example.com/org/app", "https://gitea.example.com/org")
    assert ready(no_repo)["Provider/app-preview/gitea-pr-comment"] == ("False", 'invalid repository id "org"')
