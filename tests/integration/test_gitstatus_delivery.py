"""Commit-status delivery end to end: the real dispatcher and transport against a fake git host.

The `sink` (a real HTTP server on 127.0.0.1) plays GitHub Enterprise, self-hosted GitLab,
Bitbucket Cloud (through BITBUCKET_API_BASE_URL) and Azure DevOps Server: it stores the
statuses that are POSTed and lists them on GET, so the read-before-write rule is exercised
over the wire: the same event delivered twice posts once.
"""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from fixtures.git.gitstatus_fixtures import CONTEXT, SHA, provider_yaml, raw_event  # noqa: E402

from helpers import dispatch

KEY = hashlib.sha1(CONTEXT.encode()).hexdigest()


class FakeGitHost:
    """Serves the four APIs' list/get endpoints from the statuses POSTed so far."""

    def __init__(self, sink):
        self.sink = sink
        self.posted: list[dict] = []
        self.failures: list[tuple[str, int]] = []  # (method, status) answered before normal service
        sink.handler = self.answer

    def answer(self, captured):
        if self.failures and self.failures[0][0] == captured.method:
            return self.failures.pop(0)[1], {}, b'{"message":"scripted failure"}'
        path = urlsplit(captured.path).path
        if captured.method == "POST":
            self.posted.append(captured.json())
            return 201, {"Content-Type": "application/json"}, b"{}"
        if "/statuses/build/" in path:  # bitbucket: one status by key
            match = [s for s in self.posted if s.get("key") == unquote(path.rsplit("/", 1)[1])]
            if not match:
                return 404, {}, b'{"type":"error"}'
            return 200, {}, json.dumps(match[-1]).encode()
        newest_first = list(reversed(self.posted))
        if "/_apis/git/" in path:  # azure devops
            return 200, {}, json.dumps({"count": len(newest_first), "value": newest_first}).encode()
        if "/api/v4/" in path:  # gitlab: fields as the API names them, filtered by name
            name = parse_qs(urlsplit(captured.path).query).get("name", [""])[0]
            items = [
                {"sha": SHA, "status": s["state"], "description": s["description"], "name": s["name"]}
                for s in newest_first if s["name"] == name
            ]  # fmt: skip
            return 200, {}, json.dumps(items).encode()
        return 200, {}, json.dumps(newest_first).encode()  # github

    def methods(self) -> list[str]:
        return [r.method for r in self.sink.requests]


def manifests(provider_type: str, sink, token: str = "t0ken") -> str:
    addresses = {
        "github": f"{sink.url}/owner/repo",
        "gitlab": f"{sink.url}/group/sub/project.git",
        "bitbucket": "https://bitbucket.org/owner/repo",
        "azuredevops": f"{sink.url}/Org/proj/_git/repo",
    }
    return provider_yaml(provider_type, addresses[provider_type], token=token)


EXPECTED = {
    "github": (
        f"/api/v3/repos/owner/repo/commits/{SHA}/statuses?per_page=50",
        f"/api/v3/repos/owner/repo/statuses/{SHA}",
        ("Authorization", "Bearer t0ken"),
        {"state": "success", "description": "reconciliation succeeded", "context": CONTEXT},
    ),
    "gitlab": (
        f"/api/v4/projects/group%2Fsub%2Fproject/repository/commits/{SHA}/statuses"
        "?name=kustomization%2Fgitops-system%2F0c9c2e41",
        f"/api/v4/projects/group%2Fsub%2Fproject/statuses/{SHA}",
        ("PRIVATE-TOKEN", "t0ken"),
        {"state": "success", "name": CONTEXT, "description": "reconciliation succeeded"},
    ),
    "bitbucket": (
        f"/2.0/repositories/owner/repo/commit/{SHA}/statuses/build/{KEY}",
        f"/2.0/repositories/owner/repo/commit/{SHA}/statuses/build",
        ("Authorization", "Basic " + base64.b64encode(b"user:pass").decode()),
        {"key": KEY, "url": "https://bitbucket.org", "state": "SUCCESSFUL",
         "name": "kustomization/gitops-system", "description": "reconciliation succeeded"},
    ),
    "azuredevops": (
        f"/org/proj/_apis/git/repositories/repo/commits/{SHA}/statuses",
        f"/org/proj/_apis/git/repositories/repo/commits/{SHA}/statuses",
        ("Authorization", "Basic " + base64.b64encode(b":t0ken").decode()),
        {"context": {"genre": "fluxcd", "name": CONTEXT}, "description": "reconciliation succeeded",
         "state": "succeeded"},
    ),
}  # fmt: skip
TOKENS = {"github": "t0ken", "gitlab": "t0ken", "bitbucket": "user:pass", "azuredevops": "t0ken"}


@pytest.fixture
def host(sink, monkeypatch):
    monkeypatch.setenv("BITBUCKET_API_BASE_URL", f"{sink.url}/2.0")
    return FakeGitHost(sink)


@pytest.mark.parametrize("provider_type", sorted(EXPECTED))
def test_read_before_write_over_the_wire(provider_type, host, sink):
    text = manifests(provider_type, sink, TOKENS[provider_type])
    list_path, post_path, (auth_name, auth_value), payload = EXPECTED[provider_type]

    report = dispatch(text, raw_event())
    assert report.delivered == ["flux-system/git"], report
    get, post = sink.requests
    assert (get.method, get.path, get.body) == ("GET", list_path, b"")
    assert (post.method, post.path) == ("POST", post_path)
    assert get.header(auth_name) == post.header(auth_name) == auth_value
    assert post.json() == payload

    # the same status again: read, find it identical, post nothing
    report = dispatch(text, raw_event())
    assert report.delivered == [] and report.dead_letters == []
    assert report.skipped == {"flux-system/git": "an identical commit status already exists"}
    assert host.methods() == ["GET", "POST", "GET"]

    # a different state for the same context: read, then post
    report = dispatch(text, raw_event("error", "HealthCheckFailed"))
    assert report.delivered == ["flux-system/git"]
    assert host.methods() == ["GET", "POST", "GET", "GET", "POST"]
    assert host.posted[-1]["description"] == "health check failed"


@pytest.mark.parametrize("provider_type", sorted(EXPECTED))
def test_server_errors_are_retried_and_client_errors_dead_lettered(provider_type, host, sink):
    text = manifests(provider_type, sink, TOKENS[provider_type])
    host.failures = [("GET", 503)]
    report = dispatch(text, raw_event())
    assert report.delivered == [] and report.dead_letters == []
    assert [m["targets"] for m in report.retries] == [["flux-system/git"]]
    assert host.methods() == ["GET"]

    host.failures = [("POST", 403)]
    report = dispatch(text, raw_event())
    [letter] = report.dead_letters
    assert letter["provider"] == "flux-system/git" and report.retries == []
    assert "403" in letter["error"] and TOKENS[provider_type] not in letter["error"]


def test_progressing_and_info_without_commit_key_send_nothing(host, sink):
    report = dispatch(manifests("github", sink), raw_event(reason="Progressing"))
    assert report.skipped == {"flux-system/git": "Progressing"}
    raw = raw_event()
    del raw["metadata"]["event.toolkit.fluxcd.io/commit"]
    report = dispatch(manifests("gitlab", sink), raw)
    assert report.skipped == {
        "flux-system/git": "event dropped for commit status providers due to missing commit metadata key"
    }
    assert sink.requests == []


def test_bad_revision_is_dead_lettered_without_any_request(host, sink):
    raw = raw_event(**{"event.toolkit.fluxcd.io/commit": "main@sha1:../../x?y#" + "a" * 30})
    report = dispatch(manifests("github", sink), raw)
    [letter] = report.dead_letters
    assert letter["error"].startswith("invalid commit hash in 'main@sha1:../../x?y#")
    assert sink.requests == []


def test_config_error_is_dead_lettered(host, sink):
    report = dispatch(manifests("bitbucket", sink, token="no-colon"), raw_event())
    [letter] = report.dead_letters
    assert letter["error"] == "invalid token format, expected to be <user>:<password>"
    assert sink.requests == []
