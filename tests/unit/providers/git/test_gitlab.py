"""gitlab (spec §5.8): construction errors, project id escaping, the POST, read-before-write."""

from __future__ import annotations

import pytest
from fixtures.git.gitstatus_fixtures import (
    CONTEXT,
    SHA,
    FakeTransport,
    body,
    config,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
)

from fluxnotify.config.options import ConfigError
from fluxnotify.providers.base import ProviderError, Skip
from fluxnotify.providers.git import gitlab
from fluxnotify.transport.http import DeliveryError, TLSMaterial

ADDRESS = "https://gitlab.com/foo/bar"
PROJECT = "https://gitlab.com/api/v4/projects/foo%2Fbar"
NAME_QUERY = "name=kustomization%2Fgitops-system%2F0c9c2e41"


def cfg(address: str = ADDRESS, **values):
    values.setdefault("token", "t0ken")
    return config("gitlab", address, **values)


def encode_one(evt=None, conf=None):
    [request] = gitlab.encode(evt or event(), conf or cfg())
    return request


def test_post_success():
    request = encode_one()
    assert request.method == "POST"
    assert request.url == f"{PROJECT}/statuses/{SHA}"
    assert request.headers == {
        "PRIVATE-TOKEN": "t0ken", "Accept": "application/json", "Content-Type": "application/json",
    }  # fmt: skip
    assert request.body == (
        b'{"state":"success","name":"kustomization/gitops-system/0c9c2e41",'
        b'"description":"reconciliation succeeded"}'
    )


def test_post_failed():
    assert body(encode_one(event("error", "ApplyFailed"))) == {
        "state": "failed", "name": CONTEXT, "description": "apply failed",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("https://gitlab.com/foo/bar/baz.git", "https://gitlab.com/api/v4/projects/foo%2Fbar%2Fbaz"),
        ("git@gitlab.com:foo/bar.git", "https://gitlab.com/api/v4/projects/foo%2Fbar"),
        ("https://gitlab.com/my.group/my.repo", "https://gitlab.com/api/v4/projects/my%2Egroup%2Fmy%2Erepo"),
        ("https://gitlab.com/1234", "https://gitlab.com/api/v4/projects/1234"),
        ("https://gitlab.example.com:8443/g/p", "https://gitlab.example.com:8443/api/v4/projects/g%2Fp"),
        (
            "ssh://git@gitlab.example.com:2222/g/p.git",
            "https://gitlab.example.com:2222/api/v4/projects/g%2Fp",
        ),
        ("https://gitlab.com/a%3Fb/c%23d", "https://gitlab.com/api/v4/projects/a%3Fb%2Fc%23d"),
    ],
)
def test_self_hosted_and_project_paths(address, url):
    assert encode_one(conf=cfg(address)).url == f"{url}/statuses/{SHA}"


def test_password_is_the_fallback_token():
    assert encode_one(conf=cfg(token="", password="pw")).headers["PRIVATE-TOKEN"] == "pw"


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"token": ""}, "gitlab token cannot be empty"),
        ({"commit_status": ""}, "commit status cannot be empty"),
        ({"token": "", "commit_status": ""}, "gitlab token cannot be empty"),
    ],
)
def test_config_errors(values, text):
    with pytest.raises(ConfigError) as err:
        gitlab.validate(cfg(**values))
    assert str(err.value) == text


def test_event_rules():
    with pytest.raises(Skip, match="^Progressing$"):
        gitlab.encode(event(reason="Progressing"), cfg())
    with pytest.raises(ProviderError, match="^can't convert to gitlab state$"):
        gitlab.encode(event("trace"), cfg())
    with pytest.raises(ProviderError, match="^missing revision metadata$"):
        gitlab.encode(event(metadata={}), cfg())


def status(**values):
    item = {"sha": SHA, "status": "success", "description": "reconciliation succeeded", "name": CONTEXT}
    return {**item, **values}


def test_deliver_lists_with_the_name_filter_then_posts():
    tls = TLSMaterial(ca="CA")
    transport = FakeTransport([(200, []), (201, {})])
    gitlab.deliver(event(), cfg(tls=tls, proxy="http://proxy:1"), transport)
    get, post = transport.requests
    assert get.method == "GET"
    assert get.url == f"{PROJECT}/repository/commits/{SHA}/statuses?{NAME_QUERY}"
    assert get.headers == {"PRIVATE-TOKEN": "t0ken", "Accept": "application/json"}
    assert post == encode_one(conf=cfg(tls=tls))
    assert [options for _, options in transport.sent] == [{"proxy": "", "tls": tls, "timeout": 15.0}] * 2


@pytest.mark.parametrize(
    ("existing", "posts"),
    [
        ([status()], False),
        ([status(status="failed"), status()], False),  # any equal item counts
        ([status(status="failed")], True),
        ([status(description="other")], True),
        ([status(sha="b" * 40)], True),
        ([status(name="other")], True),
    ],
)
def test_duplicate_rule(existing, posts):
    transport = FakeTransport([(200, existing), (201, {})])
    if posts:
        gitlab.deliver(event(), cfg(), transport)
    else:
        with pytest.raises(Skip):
            gitlab.deliver(event(), cfg(), transport)
    assert [r.method for r in transport.requests] == (["GET", "POST"] if posts else ["GET"])


@pytest.mark.parametrize(
    ("answers", "prefix", "retryable"),
    [
        ([(401, {"message": "401 Unauthorized"})], "unable to list commit status: ", False),
        ([(503, b"")], "unable to list commit status: ", True),
        ([(200, []), (400, {"message": "bad"})], "unable to set commit status: ", False),
        ([(200, []), (500, b"")], "unable to set commit status: ", True),
    ],
)
def test_deliver_errors(answers, prefix, retryable):
    with pytest.raises(DeliveryError) as err:
        gitlab.deliver(event(), cfg(token="glpat-s3cr3t"), FakeTransport(answers))
    assert str(err.value).startswith(prefix)
    assert err.value.retryable is retryable
    assert "glpat-s3cr3t" not in str(err.value)


def test_render_self_hosted():
    result = render_yaml(
        provider_yaml("gitlab", "https://gitlab.example.com/group/sub/project.git"), raw_event()
    )
    assert result["error"] is None and result["skipped"] is None
    [delivery] = result["deliveries"]
    assert delivery["method"] == "POST"
    assert (
        delivery["url"] == f"https://gitlab.example.com/api/v4/projects/group%2Fsub%2Fproject/statuses/{SHA}"
    )
    assert delivery["headers"]["PRIVATE-TOKEN"] == "t0ken"
    assert delivery["body"] == {
        "state": "success",
        "name": CONTEXT,
        "description": "reconciliation succeeded",
    }


def test_render_errors_and_drop():
    assert render_yaml(provider_yaml("gitlab", ADDRESS, token=None), raw_event())["error"] == (
        "gitlab token cannot be empty"
    )
    raw = raw_event()
    del raw["metadata"]["event.toolkit.fluxcd.io/commit"]
    assert render_yaml(provider_yaml("gitlab", ADDRESS), raw)["skipped"] == (
        "event dropped for commit status providers due to missing commit metadata key"
    )
