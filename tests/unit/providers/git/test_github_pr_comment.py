"""githubpullrequestcomment (spec §5.22, §5.0 change-request rules): create once, then update that comment."""

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

from fluxnotify.config.options import ConfigError
from fluxnotify.providers.base import ProviderError
from fluxnotify.providers.git import githubapi, githubpullrequestcomment
from fluxnotify.transport.http import DeliveryError, Transport
from helpers import dispatch

MARKER = f"<!-- flux-pr-comment-key:{UID}/Kustomization/flux-system/podinfo -->"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Accept": "application/vnd.github.v3+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "go-github/v64.0.0",
}
REVISION = "main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07"


def expected_body(emoji: str = "ℹ️", message: str = "Applied revision", extra: str = "") -> str:
    return (
        f"{MARKER}\n\n## Flux Status\n\n{emoji} Kustomization/flux-system/podinfo\n\n{message}\n\n"
        f"Metadata:\n{extra}* `revision`: {REVISION}\n"
    )


def test_body_is_marker_and_markdown_with_sorted_metadata_without_change_request():
    evt = comment_event(zone="eu-1", app="<web>")
    [request] = githubpullrequestcomment.encode(evt, config("githubpullrequestcomment", "https://github.com/o/r"))
    lines = f"* `app`: <web>\n* `revision`: {REVISION}\n* `zone`: eu-1\n"
    assert json.loads(request.body)["body"] == expected_body().replace(f"* `revision`: {REVISION}\n", lines)
    # go-github's encoder: '<' stays as is, a trailing newline
    assert b"<!-- flux-pr-comment-key:" in request.body and request.body.endswith(b"}\n")


def test_error_events_get_the_warning_emoji_and_no_metadata_gives_no_lines():
    evt = replace(comment_event("error", "Health check failed"), metadata={"change_request": "7"})
    [request] = githubpullrequestcomment.encode(evt, config("githubpullrequestcomment", "https://github.com/o/r"))
    assert json.loads(request.body)["body"] == (
        f"{MARKER}\n\n## Flux Status\n\n\u26a0\ufe0f Kustomization/flux-system/podinfo\n\n"
        "Health check failed\n\nMetadata:\n"
    )
    assert request.url == "https://api.github.com/repos/o/r/issues/7/comments"


def test_render_gives_the_create_request():
    [result] = render_text(manifests("githubpullrequestcomment", "https://github.com/org/app"), raw_event())
    assert result["error"] is None and result["skipped"] is None
    [delivery] = result["deliveries"]
    assert delivery["method"] == "POST"
    assert delivery["url"] == "https://api.github.com/repos/org/app/issues/42/comments"
    assert delivery["headers"] == {**HEADERS, "Content-Type": "application/json"}
    body = expected_body(message="Applied revision " + REVISION, extra="* `commit`: " + REVISION[10:] + "\n")
    assert delivery["body"] == {"body": body}
    assert delivery["raw"] == json.dumps({"body": body}, ensure_ascii=False, separators=(",", ":")) + "\n"


def test_render_drops_events_without_the_change_request_key():
    raw = raw_event()
    del raw["metadata"]["event.toolkit.fluxcd.io/change_request"]
    [result] = render_text(manifests("githubpullrequestcomment", "https://github.com/org/app"), raw)
    assert result["deliveries"] == [] and result["error"] is None
    assert result["skipped"] == "event dropped for change request providers due to missing change_request key"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("abc", 'invalid "change_request" metadata value "abc": strconv.Atoi: parsing "abc": invalid syntax'),
        ("4 2", 'invalid "change_request" metadata value "4 2": strconv.Atoi: parsing "4 2": invalid syntax'),
        ("1_0", 'invalid "change_request" metadata value "1_0": strconv.Atoi: parsing "1_0": invalid syntax'),
        ("99999999999999999999", 'invalid "change_request" metadata value "99999999999999999999": '
         'strconv.Atoi: parsing "99999999999999999999": value out of range'),
    ],
)  # fmt: skip
def test_change_request_must_be_an_integer(value, text):
    with pytest.raises(ProviderError) as err:
        githubpullrequestcomment.encode(
            comment_event(change_request=value), config("githubpullrequestcomment", "https://github.com/o/r")
        )
    assert str(err.value) == text


def test_missing_change_request_key():
    evt = replace(comment_event(), metadata={"revision": REVISION})
    with pytest.raises(ProviderError, match='^missing "change_request" metadata key$'):
        githubpullrequestcomment.encode(evt, config("githubpullrequestcomment", "https://github.com/o/r"))


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"uid": ""}, "provider UID cannot be empty"),
        ({"uid": "", "token": ""}, "provider UID cannot be empty"),
        ({"token": ""}, "github token or github app details must be specified"),
        ({"address": "https://github.com/o"}, "invalid repository id: 'o'"),
        ({"address": "https://github.com/o/r/"}, "invalid repository id: 'o/r/'"),
    ],
)
def test_config_errors(values, text):
    address = values.pop("address", "https://github.com/o/r")
    conf = replace(config("githubpullrequestcomment", address), **values)
    with pytest.raises(ConfigError) as err:
        githubpullrequestcomment.validate(conf)
    assert str(err.value) == text


@pytest.fixture
def host(sink):
    return CommentHost(sink, "github")


def pr_manifests(sink) -> str:
    return manifests("githubpullrequestcomment", f"{sink.url}/owner/repo")


def test_first_event_creates_the_comment_and_later_ones_update_it(host, sink):
    report = dispatch(pr_manifests(sink), raw_event())
    assert report.delivered == ["flux-system/git"]
    user, listing, create = sink.requests
    assert (user.method, user.path, user.body) == ("GET", "/api/v3/user", b"")
    assert (listing.method, listing.path) == (
        "GET", "/api/v3/repos/owner/repo/issues/42/comments?direction=asc&per_page=100&sort=created")
    assert (create.method, create.path) == ("POST", "/api/v3/repos/owner/repo/issues/42/comments")
    for request in (user, listing, create):
        assert {k: request.header(k) for k in HEADERS} == HEADERS
    assert create.header("Content-Type") == "application/json"
    assert user.header("Content-Type") is None
    [comment] = host.comments
    assert create.json() == {"body": expected_comment("flux-pr-comment-key")}
    assert create.body.endswith(b"}\n") and b"<!--" in create.body  # go-github: no HTML escaping

    report = dispatch(pr_manifests(sink), raw_event("error", "HealthCheckFailed"))
    assert report.delivered == ["flux-system/git"]
    assert host.calls()[3:] == [
        ("GET", "/api/v3/user"),
        ("GET", "/api/v3/repos/owner/repo/issues/42/comments?direction=asc&per_page=100&sort=created"),
        ("PATCH", f"/api/v3/repos/owner/repo/issues/comments/{comment['id']}"),
    ]
    assert sink.requests[-1].json() == {"body": expected_comment("flux-pr-comment-key", "error")}
    assert len(host.comments) == 1


def test_only_our_identity_and_marker_identify_the_comment(host, sink):
    host.add(f"{MARKER}\n\nsomeone quoting our marker", login="someone-else")
    host.add("a comment of ours without the marker")
    host.add(MARKER.replace("podinfo", "other") + "\n\nthe comment of another object")
    mine = host.add(f"{MARKER}\n\nold status")
    host.add(f"{MARKER}\n\na later duplicate of ours")
    report = dispatch(pr_manifests(sink), raw_event())
    assert report.delivered == ["flux-system/git"]
    assert host.calls()[-1] == ("PATCH", f"/api/v3/repos/owner/repo/issues/comments/{mine}")
    updated = next(c for c in host.comments if c["id"] == mine)
    assert updated["body"].startswith(MARKER + "\n\n## Flux Status")
    assert [c["body"].endswith("old status") for c in host.comments] == [False] * 5


def test_another_provider_uid_gets_its_own_comment(host, sink):
    host.add("<!-- flux-pr-comment-key:another-uid/Kustomization/flux-system/podinfo -->\n\nx")
    dispatch(pr_manifests(sink), raw_event())
    assert host.calls()[-1] == ("POST", "/api/v3/repos/owner/repo/issues/42/comments")
    assert len(host.comments) == 2


@pytest.mark.parametrize(
    ("method", "part", "status", "prefix", "retryable"),
    [
        ("GET", "/user", 401, "failed to get authenticated user info: ", False),
        ("GET", "/user", 503, "failed to get authenticated user info: ", True),
        ("GET", "/comments", 500, "failed to list pull request comments: ", True),
        ("GET", "/comments", 404, "failed to list pull request comments: ", False),
        ("POST", "/comments", 422, "failed to create pull request comment: ", False),
        ("POST", "/comments", 429, "failed to create pull request comment: ", True),
    ],
)
def test_failures_are_classified_and_never_show_the_token(host, sink, method, part, status, prefix, retryable):
    host.fail(method, part, status)
    conf = config("githubpullrequestcomment", f"{sink.url}/owner/repo")
    with pytest.raises(DeliveryError) as err:
        githubpullrequestcomment.deliver(comment_event(), conf, Transport())
    assert str(err.value).startswith(prefix)
    assert err.value.retryable is retryable
    assert TOKEN not in str(err.value)


def test_update_failure_and_retry_after(host, sink):
    host.add(f"{MARKER}\n\nold")
    host.fail("PATCH", "/comments/", 503, {"Retry-After": "7"})
    conf = config("githubpullrequestcomment", f"{sink.url}/owner/repo")
    with pytest.raises(DeliveryError) as err:
        githubpullrequestcomment.deliver(comment_event(), conf, Transport())
    assert str(err.value).startswith("failed to update pull request comment: ")
    assert err.value.retryable and err.value.retry_after == 7


def test_dispatcher_retries_server_errors_and_dead_letters_client_errors(host, sink):
    host.fail("GET", "/comments", 502)
    report = dispatch(pr_manifests(sink), raw_event())
    assert [m["targets"] for m in report.retries] == [["flux-system/git"]] and report.dead_letters == []
    host.fail("POST", "/comments", 403)
    report = dispatch(pr_manifests(sink), raw_event())
    [letter] = report.dead_letters
    assert letter["error"].startswith("failed to create pull request comment: ")
    assert TOKEN not in json.dumps(letter)


def test_github_app_identity_is_the_app_slug_bot(sink, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    monkeypatch.setattr(githubapi, "_TOKENS", {})
    monkeypatch.setattr(githubapi, "_SLUGS", {})
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    host = CommentHost(sink, "github", identity="flux-app[bot]")
    comments = host.answer

    def answer(captured, path, query):
        if path == "/api/v3/app":
            return 200, {"slug": "flux-app"}
        if path.endswith("/access_tokens"):
            return 201, {"token": "ghs_installation", "expires_at": "2999-01-01T00:00:00Z"}
        return comments(captured, path, query)

    host.answer = answer
    mine = host.add(f"{MARKER}\n\nold")
    secret = {"githubAppID": "12", "githubAppInstallationID": "34", "githubAppPrivateKey": pem,
              "githubAppBaseURL": f"{sink.url}/api/v3"}  # fmt: skip
    conf = config("githubpullrequestcomment", f"{sink.url}/owner/repo", token="", secret=secret)
    githubpullrequestcomment.deliver(comment_event(), conf, Transport())
    assert host.calls() == [
        ("POST", "/api/v3/app/installations/34/access_tokens"),
        ("GET", "/api/v3/app"),
        ("GET", "/api/v3/repos/owner/repo/issues/42/comments?direction=asc&per_page=100&sort=created"),
        ("PATCH", f"/api/v3/repos/owner/repo/issues/comments/{mine}"),
    ]
    assert sink.requests[-1].header("Authorization") == "Bearer ghs_installation"


def test_flux_docs_example_is_ready():
    verdict = ready(docs_yaml("githubpullrequestcomment"))
    assert verdict["Provider/app-preview/github-pr-comment"] == ("True", "Initialized")
    assert verdict["Alert/app-preview/github-pr-comment"] == ("True", "Initialized")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("token: <GITHUB-TOKEN>", "other: x"), "github token or github app details must be specified"),
        (("https://github.com/org/app", "https://github.com/org"), "invalid repository id: 'org'"),
        (("token: <GITHUB-TOKEN>", "githubAppID: '1'"),
         "app installation owner or ID must be provided to use github app authentication"),
    ],
)  # fmt: skip
def test_validate_gives_the_spec_reasons(edit, message):
    text = docs_yaml("githubpullrequestcomment").replace(*edit)
    status, reason = ready(text)["Provider/app-preview/github-pr-comment"]
    assert status == "False" and message in reason  # validate may name the missing Secret key first


def test_a_user_answer_without_login_is_a_permanent_failure(sink):
    sink.default = (200, {}, b'{"id": 1}')
    with pytest.raises(DeliveryError) as err:
        githubpullrequestcomment.deliver(
            comment_event(), config("githubpullrequestcomment", f"{sink.url}/owner/repo"), Transport()
        )
    assert str(err.value) == "failed to get authenticated user info: the response carries no login"
    assert not err.value.retryable and len(sink.requests) == 1
