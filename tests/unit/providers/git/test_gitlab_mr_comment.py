"""gitlabmergerequestcomment (spec §5.23, §5.0 change-request rules): one note per object, updated in place."""

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
from fluxnotify.providers.git import gitlabmergerequestcomment
from fluxnotify.transport.http import DeliveryError, TLSMaterial, Transport
from helpers import dispatch

MARKER = f"<!-- flux-mr-comment-key:{UID}/Kustomization/flux-system/podinfo -->"
REVISION = "main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07"
NOTES = "/api/v4/projects/group%2Fsub%2Fapp/merge_requests/42/notes"


def test_render_gives_the_create_request():
    [result] = render_text(manifests("gitlabmergerequestcomment", "https://gitlab.com/group/sub/app.git"), raw_event())
    assert result["error"] is None and result["skipped"] is None
    [delivery] = result["deliveries"]
    assert delivery["method"] == "POST"
    assert delivery["url"] == "https://gitlab.com" + NOTES
    assert delivery["headers"] == {"PRIVATE-TOKEN": TOKEN, "Accept": "application/json",
                                   "Content-Type": "application/json"}  # fmt: skip
    body = (
        f"{MARKER}\n\n## Flux Status\n\n\u2139\ufe0f Kustomization/flux-system/podinfo\n\n"
        f"Applied revision {REVISION}\n\nMetadata:\n* `commit`: {REVISION[10:]}\n* `revision`: {REVISION}\n"
    )
    assert delivery["body"] == {"body": body}
    # json.Marshal: HTML characters escaped, no trailing newline
    assert delivery["raw"].startswith('{"body":"\\u003c!-- flux-mr-comment-key:') and delivery["raw"].endswith('"}')


def test_numeric_project_ids_and_dots_are_escaped():
    [request] = gitlabmergerequestcomment.encode(
        comment_event(change_request="7"), config("gitlabmergerequestcomment", "https://gitlab.example.com/1234")
    )
    assert request.url == "https://gitlab.example.com/api/v4/projects/1234/merge_requests/7/notes"
    [request] = gitlabmergerequestcomment.encode(
        comment_event(), config("gitlabmergerequestcomment", "git@gitlab.com:my.group/app.v2.git")
    )
    assert request.url == "https://gitlab.com/api/v4/projects/my%2Egroup%2Fapp%2Ev2/merge_requests/42/notes"


def test_the_marker_prefix_is_the_merge_request_one():
    [request] = gitlabmergerequestcomment.encode(comment_event(), config("gitlabmergerequestcomment", "https://h/g/p"))
    assert json.loads(request.body)["body"].startswith(MARKER + "\n\n## Flux Status\n\n")


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"uid": ""}, "provider UID cannot be empty"),
        ({"uid": "", "token": ""}, "provider UID cannot be empty"),
        ({"token": ""}, "gitlab token cannot be empty"),
        ({"token": "", "password": ""}, "gitlab token cannot be empty"),
    ],
)
def test_config_errors(values, text):
    conf = replace(config("gitlabmergerequestcomment", "https://gitlab.com/g/p"), **values)
    with pytest.raises(ConfigError) as err:
        gitlabmergerequestcomment.validate(conf)
    assert str(err.value) == text


def test_password_is_the_fallback_token_and_no_commit_status_is_needed():
    conf = config("gitlabmergerequestcomment", "https://gitlab.com/g/p", token="", password="pw", commit_status="")
    [request] = gitlabmergerequestcomment.encode(comment_event(), conf)
    assert request.headers["PRIVATE-TOKEN"] == "pw"


def test_event_errors():
    conf = config("gitlabmergerequestcomment", "https://gitlab.com/g/p")
    with pytest.raises(ProviderError, match='^invalid "change_request" metadata value "!1": '):
        gitlabmergerequestcomment.encode(comment_event(change_request="!1"), conf)
    with pytest.raises(ProviderError, match='^missing "change_request" metadata key$'):
        gitlabmergerequestcomment.encode(replace(comment_event(), metadata={}), conf)


@pytest.fixture
def host(sink):
    return CommentHost(sink, "gitlab")


def mr_manifests(sink) -> str:
    return manifests("gitlabmergerequestcomment", f"{sink.url}/group/sub/app")


def test_first_event_creates_the_note_and_later_ones_update_it(host, sink):
    report = dispatch(mr_manifests(sink), raw_event())
    assert report.delivered == ["flux-system/git"]
    user, listing, create = sink.requests
    assert (user.method, user.path, user.body) == ("GET", "/api/v4/user", b"")
    assert (listing.method, listing.path) == ("GET", NOTES + "?order_by=created_at&per_page=100&sort=asc")
    assert (create.method, create.path) == ("POST", NOTES)
    for request in (user, listing, create):
        assert request.header("PRIVATE-TOKEN") == TOKEN and request.header("Accept") == "application/json"
    assert create.header("Content-Type") == "application/json" and listing.header("Content-Type") is None
    [note] = host.comments
    assert create.json() == {"body": expected_comment("flux-mr-comment-key")}

    report = dispatch(mr_manifests(sink), raw_event("error", "HealthCheckFailed"))
    assert report.delivered == ["flux-system/git"]
    assert host.calls()[3:] == [
        ("GET", "/api/v4/user"),
        ("GET", NOTES + "?order_by=created_at&per_page=100&sort=asc"),
        ("PUT", f"{NOTES}/{note['id']}"),
    ]
    assert sink.requests[-1].json() == {"body": expected_comment("flux-mr-comment-key", "error")}
    assert len(host.comments) == 1


def test_notes_of_other_users_or_without_the_marker_are_left_alone(host, sink):
    host.add(f"{MARKER}\n\nquoted by a human", login="alice")
    host.add(MARKER.replace("flux-mr-comment-key", "flux-pr-comment-key") + "\n\nthe GitHub prefix")
    report = dispatch(mr_manifests(sink), raw_event())
    assert report.delivered == ["flux-system/git"]
    assert host.calls()[-1] == ("POST", NOTES)
    assert [n["body"].split("\n\n")[1] for n in host.comments[:2]] == ["quoted by a human", "the GitHub prefix"]


@pytest.mark.parametrize(
    ("method", "part", "status", "prefix", "retryable"),
    [
        ("GET", "/user", 401, "failed to get authenticated user info: ", False),
        ("GET", "/user", 500, "failed to get authenticated user info: ", True),
        ("GET", "/notes", 404, "failed to list merge request notes: ", False),
        ("GET", "/notes", 429, "failed to list merge request notes: ", True),
        ("POST", "/notes", 403, "failed to create merge request note: ", False),
        ("POST", "/notes", 503, "failed to create merge request note: ", True),
    ],
)
def test_failures_are_classified_and_never_show_the_token(host, sink, method, part, status, prefix, retryable):
    host.fail(method, part, status)
    with pytest.raises(DeliveryError) as err:
        gitlabmergerequestcomment.deliver(
            comment_event(), config("gitlabmergerequestcomment", f"{sink.url}/group/sub/app"), Transport()
        )
    assert str(err.value).startswith(prefix)
    assert err.value.retryable is retryable
    assert TOKEN not in str(err.value)


def test_update_failure(host, sink):
    host.add(f"{MARKER}\n\nold")
    host.fail("PUT", "/notes/", 422)
    with pytest.raises(DeliveryError) as err:
        gitlabmergerequestcomment.deliver(
            comment_event(), config("gitlabmergerequestcomment", f"{sink.url}/group/sub/app"), Transport()
        )
    assert str(err.value).startswith("failed to update merge request note: ") and not err.value.retryable


def test_tls_is_honoured_and_the_proxy_is_not():
    tls = TLSMaterial(ca="CA")
    transport = FakeTransport([(200, {"username": "bot"}), (200, []), (201, {})])
    conf = config("gitlabmergerequestcomment", "https://gitlab.example.com/g/p", tls=tls, proxy="http://proxy:3128")
    gitlabmergerequestcomment.deliver(comment_event(), conf, transport)
    assert [options for _, options in transport.sent] == [{"proxy": "", "tls": tls, "timeout": 15.0}] * 3


def test_dispatcher_dead_letters_a_bad_change_request_without_any_request(host, sink):
    report = dispatch(mr_manifests(sink), raw_event(**{"event.toolkit.fluxcd.io/change_request": "x"}))
    [letter] = report.dead_letters
    assert letter["error"].startswith('invalid "change_request" metadata value "x"')
    assert sink.requests == []


def test_flux_docs_example_is_ready():
    verdict = ready(docs_yaml("gitlabmergerequestcomment"))
    assert verdict["Provider/app-preview/gitlab-mr-comment"] == ("True", "Initialized")
    assert verdict["Alert/app-preview/gitlab-mr-comment"] == ("True", "Initialized")
    without_token = docs_yaml("gitlabmergerequestcomment").replace("token: <GITLAB-TOKEN>", "other: x")
    assert ready(without_token)["Provider/app-preview/gitlab-mr-comment"] == (
        "False", "Secret app-preview/gitlab-token has no 'token' key (gitlab token cannot be empty)")


def test_a_server_echoing_the_token_gets_it_redacted(sink, caplog):
    sink.handler = lambda r: (400, {}, f"bad token {r.header('PRIVATE-TOKEN')}".encode())
    report = dispatch(mr_manifests(sink), raw_event())
    [letter] = report.dead_letters
    assert letter["error"] == (f"failed to get authenticated user info: GET {sink.url}/… answered 400 Bad Request: "
                               "bad token *****")
    assert TOKEN not in json.dumps(letter) and TOKEN not in caplog.text
