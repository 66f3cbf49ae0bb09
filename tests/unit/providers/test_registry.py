"""The registry (providers/__init__.py): each type declares its capabilities once; every list
of types derives from them."""

from __future__ import annotations

from fluxnotify import providers


def test_every_declared_type_has_its_module():
    assert sorted(providers.supported_types()) == sorted(providers.TYPES)
    flux = [name for name, caps in providers.TYPES.items() if not caps.fluxnotify_only]
    assert len(flux) == 34 and len(providers.TYPES) == 34 + 5  # Flux's types, fluxnotify's own
    for name, caps in providers.TYPES.items():
        assert providers.get(name).__name__ == f"fluxnotify.providers.{caps.module}"
        assert caps.family in ("chat", "incident", "git", "stream", "aws")


def test_lists_derive_from_capabilities():
    assert providers.COMMIT_STATUS_TYPES == {
        "github", "gitlab", "gitea", "bitbucketserver", "bitbucket", "azuredevops"}
    assert providers.CHANGE_REQUEST_TYPES == {
        "githubpullrequestcomment", "gitlabmergerequestcomment", "giteapullrequestcomment"}
    assert providers.GENERIC_TYPES == {"generic", "generic-hmac"}
    assert providers.PER_EVENT_CHECKS == providers.COMMIT_STATUS_TYPES | providers.CHANGE_REQUEST_TYPES
    assert all(providers.capabilities(t).family == "git" for t in providers.PER_EVENT_CHECKS)
    assert all(providers.capabilities(t).reads_before_write for t in providers.COMMIT_STATUS_TYPES)


def test_an_unknown_type_has_no_capability():
    caps = providers.capabilities("carrier-pigeon")
    assert not (caps.commit_status or caps.change_request or caps.generic or caps.direct) and caps.module == ""
