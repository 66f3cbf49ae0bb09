"""Shared commit-status helpers (spec §5.0, §1.2 GetRevision) and their URL-safety rules."""

from __future__ import annotations

import pytest
from fixtures.git.gitstatus_fixtures import SHA, config, event

from fluxnotify.providers.base import ProviderError, Skip
from fluxnotify.providers.git.gitstatus import (
    commit_status,
    description,
    get_revision,
    json_body,
    parse_git_address,
    parse_revision,
    split_camel,
)


@pytest.mark.parametrize(
    "revision",
    [
        f"sha1:{SHA}",
        f"master@sha1:{SHA}",
        f"environment/dev@sha1:{SHA}",
        f"master/{SHA}",
        f"environment/dev/{SHA}",
        SHA,
    ],
)
def test_parse_revision_examples(revision):
    assert parse_revision(revision) == SHA


@pytest.mark.parametrize(
    "revision",
    ["master", "main@sha256:" + "a" * 64, "sha1:" + SHA[:-1], "", f"main@sha1:{SHA}0"],
)
def test_parse_revision_rejects_wrong_length(revision):
    with pytest.raises(ProviderError) as err:
        parse_revision(revision)
    assert str(err.value) == f"failed to extract commit hash from '{revision}' revision"


def test_parse_revision_accepts_any_40_url_safe_characters():
    # The reference does not check hex; neither do we, as long as the text is URL-safe.
    assert parse_revision("main@sha1:" + "Z" * 38 + "._") == "Z" * 38 + "._"
    assert parse_revision("x" * 20 + "~-" * 10) == "x" * 20 + "~-" * 10


@pytest.mark.parametrize(
    "commit",
    [
        "../../x?y#" + "a" * 30,
        "%2F" + "a" * 37,
        "@evil.example.com" + "a" * 23,
        "a" * 39 + "?",
        "a" * 39 + "#",
        "a" * 39 + " ",
        "a" * 39 + "é",
    ],
)
def test_parse_revision_rejects_characters_that_could_change_the_url(commit):
    assert len(commit) == 40
    revision = f"main@sha1:{commit}"
    with pytest.raises(ProviderError) as err:
        parse_revision(revision)
    assert str(err.value) == (
        f"invalid commit hash in '{revision}' revision: only the characters "
        "A-Z, a-z, 0-9, '.', '_', '~' and '-' are allowed"
    )


def test_revision_with_slash_in_hash_part_cannot_escape():
    # A ':' wins over '/', so 'sha1:../x' keeps its slash and is rejected by length or charset.
    with pytest.raises(ProviderError, match="failed to extract commit hash"):
        parse_revision("main@sha1:../../repos/other/" + "a" * 40)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("https://github.com/foo/bar", ("https://github.com", "foo/bar")),
        ("https://gitlab.com/foo/bar.git", ("https://gitlab.com", "foo/bar")),
        ("git@gitlab.com:foo/bar.git", ("https://gitlab.com", "foo/bar")),
        ("ssh://git@github.com/stefanprodan/podinfo", ("https://github.com", "stefanprodan/podinfo")),
        ("https://gitlab.com/foo/bar/foo.git", ("https://gitlab.com", "foo/bar/foo")),
        ("http://127.0.0.1:8080/foo/bar", ("http://127.0.0.1:8080", "foo/bar")),
        # more shapes: enterprise hosts, ports, userinfo, trailing slash, local paths
        ("https://github.example.com/org/repo.git", ("https://github.example.com", "org/repo")),
        (
            "ssh://git@gitlab.example.com:2222/group/sub/repo.git",
            ("https://gitlab.example.com:2222", "group/sub/repo"),
        ),
        ("https://user:pw@git.example.com:8443/o/r", ("https://git.example.com:8443", "o/r")),
        ("git@github.example.com:org/repo", ("https://github.example.com", "org/repo")),
        ("https://github.com/foo/bar/", ("https://github.com", "foo/bar/")),
        ("https://github.com/foo/bar.git.git", ("https://github.com", "foo/bar.git")),
        ("git://host.example/o/r.git", ("git://host.example", "o/r")),
        ("/srv/git/o/r.git", ("file://", "srv/git/o/r")),
        ("not a url", ("file://", "not a url")),
        ("", ("file://", "")),
    ],
)
def test_parse_git_address(address, expected):
    assert parse_git_address(address) == expected


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("ApplySucceeded", ["Apply", "Succeeded"]),
        ("ReconciliationSucceeded", ["Reconciliation", "Succeeded"]),
        ("HealthCheckFailed", ["Health", "Check", "Failed"]),
        ("PDFLoader", ["PDF", "Loader"]),
        ("reason", ["reason"]),
        ("Succeeded", ["Succeeded"]),
        ("", []),
        ("install failed", ["install", " ", "failed"]),
        ("GL11Version", ["GL", "11", "Version"]),
    ],
)
def test_split_camel(reason, words):
    assert split_camel(reason) == words


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        ("ApplySucceeded", "apply succeeded"),
        ("ReconciliationSucceeded", "reconciliation succeeded"),
        ("HealthCheckFailed", "health check failed"),
        ("PDFLoader", "pdf loader"),
        ("reason", "reason"),
        ("Succeeded", "succeeded"),
        ("", ""),
        ("install failed", "install   failed"),
    ],
)
def test_description(reason, text):
    assert description(reason) == text


def test_get_revision_order_commit_then_origin_then_revision():
    both = {"revision": "r", "originRevision": "o", "commit": "c"}
    assert get_revision(event(metadata=both)) == "c"
    assert get_revision(event(metadata={"revision": "r", "originRevision": "o"})) == "o"
    assert get_revision(event(metadata={"revision": "r"})) == "r"
    # presence, not emptiness, decides
    assert get_revision(event(metadata={"revision": "r", "commit": ""})) == ""


def test_missing_revision_metadata():
    with pytest.raises(ProviderError) as err:
        get_revision(event(metadata={"summary": "x"}))
    assert str(err.value) == "missing revision metadata"


def test_common_rules_order():
    states = {"info": "ok", "error": "bad"}
    cfg = config("github", "https://github.com/o/r")
    # Progressing wins over everything, even a missing revision
    with pytest.raises(Skip, match="^Progressing$"):
        commit_status(event(reason="Progressing", metadata={}), cfg, states, "x")
    # the revision is checked before the severity
    with pytest.raises(ProviderError, match="^missing revision metadata$"):
        commit_status(event(severity="trace", metadata={}), cfg, states, "x")
    with pytest.raises(ProviderError, match="^can't convert to x state$"):
        commit_status(event(severity="trace"), cfg, states, "x")
    new = commit_status(event(severity="error", reason="HealthCheckFailed"), cfg, states, "x")
    assert (new.hash, new.state, new.description, new.context) == (
        SHA, "bad", "health check failed", "kustomization/gitops-system/0c9c2e41",
    )  # fmt: skip


def test_json_body_without_html_escaping():
    payload = {"description": 'a<b>&c\n\u2028"', "x": "é"}
    assert json_body(payload, escape_html=False, newline=True) == (
        '{"description":"a<b>&c\\n\\u2028\\"","x":"é"}\n'.encode()
    )
    assert json_body(payload) == '{"description":"a\\u003cb\\u003e\\u0026c\\n\\u2028\\"","x":"é"}'.encode()
