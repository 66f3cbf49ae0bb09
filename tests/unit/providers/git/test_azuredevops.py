"""azuredevops (spec §5.10): repository URL parsing, genre, PAT auth, read-before-write."""

from __future__ import annotations

import base64

import pytest
from fixtures.git.gitstatus_fixtures import (
    CONTEXT,
    SHA,
    FakeTransport,
    config,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
)

from fluxnotify.config.options import ConfigError
from fluxnotify.providers.base import ProviderError, Skip
from fluxnotify.providers.git import azuredevops
from fluxnotify.transport.http import DeliveryError, TLSMaterial

ADDRESS = "https://dev.azure.com/foo/bar/_git/baz"
URL = f"https://dev.azure.com/foo/bar/_apis/git/repositories/baz/commits/{SHA}/statuses"
AUTH = "Basic " + base64.b64encode(b":pat").decode()
ACCEPT = "application/json;api-version=6.0"


def cfg(address: str = ADDRESS, **values):
    values.setdefault("token", "pat")
    return config("azuredevops", address, **values)


def encode_one(evt=None, conf=None):
    [request] = azuredevops.encode(evt or event(), conf or cfg())
    return request


def test_post_success():
    request = encode_one()
    assert request.method == "POST"
    assert request.url == URL
    assert request.headers == {
        "Authorization": AUTH, "Accept": ACCEPT, "Content-Type": "application/json;charset=utf-8",
    }  # fmt: skip
    assert request.body == (
        b'{"context":{"genre":"fluxcd","name":"kustomization/gitops-system/0c9c2e41"},'
        b'"description":"reconciliation succeeded","state":"succeeded"}'
    )


def test_post_error_state_and_summary_genre():
    evt = event("error", "HealthCheckFailed", {"revision": f"main@sha1:{SHA}", "summary": "prod"})
    request = encode_one(evt)
    assert request.body == (
        b'{"context":{"genre":"fluxcd:prod","name":"kustomization/gitops-system/0c9c2e41"},'
        b'"description":"health check failed","state":"error"}'
    )
    # presence decides, an empty summary still changes the genre
    evt = event(metadata={"revision": f"main@sha1:{SHA}", "summary": ""})
    assert b'"genre":"fluxcd:"' in encode_one(evt).body


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("https://Dev.Azure.com/Org/Project/_git/Repo",
         f"https://dev.azure.com/org/Project/_apis/git/repositories/Repo/commits/{SHA}/statuses"),
        ("https://tfs.example.com:8443/coll/proj/_git/repo.git",
         f"https://tfs.example.com:8443/coll/proj/_apis/git/repositories/repo/commits/{SHA}/statuses"),
        ("git@ssh.dev.azure.com:v3/org/proj/repo",
         f"https://ssh.dev.azure.com/v3/org/_apis/git/repositories/repo/commits/{SHA}/statuses"),
        ("https://dev.azure.com/o/my%20proj/_git/r%3Fx",
         f"https://dev.azure.com/o/my%20proj/_apis/git/repositories/r%3Fx/commits/{SHA}/statuses"),
    ],
)  # fmt: skip
def test_repository_urls(address, url):
    assert encode_one(conf=cfg(address)).url == url


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"token": ""}, azuredevops.NO_TOKEN),
        ({"commit_status": ""}, "commit status cannot be empty"),
        ({"address": "https://dev.azure.com/foo/bar/baz"}, 'invalid repository id "foo/bar/baz"'),
        ({"address": "https://dev.azure.com/a/b/_git/c/d"}, 'invalid repository id "a/b/_git/c/d"'),
        ({"commit_status": "", "address": "https://dev.azure.com/x"}, "commit status cannot be empty"),
    ],
)
def test_config_errors(values, text):
    address = values.pop("address", ADDRESS)
    with pytest.raises(ConfigError) as err:
        azuredevops.validate(cfg(address, **values))
    assert str(err.value) == text


def test_missing_token_message_is_clear():
    assert azuredevops.NO_TOKEN.startswith("azure devops token cannot be empty: workload identity")


def test_event_rules():
    with pytest.raises(Skip, match="^Progressing$"):
        azuredevops.encode(event(reason="Progressing"), cfg())
    with pytest.raises(ProviderError, match="^can't convert to azure devops state$"):
        azuredevops.encode(event("trace"), cfg())
    with pytest.raises(ProviderError, match="^missing revision metadata$"):
        azuredevops.encode(event(metadata={}), cfg())


def item(name=CONTEXT, genre="fluxcd", state="succeeded", description="reconciliation succeeded"):
    return {"context": {"name": name, "genre": genre}, "state": state, "description": description}


def test_deliver_lists_then_posts():
    tls = TLSMaterial(ca="CA")
    transport = FakeTransport([(200, {"count": 0, "value": []}), (201, {})])
    azuredevops.deliver(event(), cfg(tls=tls, proxy="http://proxy:1"), transport)
    get, post = transport.requests
    assert (get.method, get.url, get.body) == ("GET", URL, b"")
    assert get.headers == {"Authorization": AUTH, "Accept": ACCEPT}
    assert post == encode_one()
    assert [options for _, options in transport.sent] == [{"proxy": "", "tls": tls, "timeout": 15.0}] * 2


@pytest.mark.parametrize(
    ("existing", "posts"),
    [
        ([item()], False),
        ([item(name="other"), item(state=None), item(), item(state="error")], False),
        ([item(state="error"), item()], True),  # the first matching one decides
        ([item(description="other")], True),
        ([item(genre="fluxcd:prod")], True),
        ([], True),
    ],
)
def test_duplicate_rule(existing, posts):
    transport = FakeTransport([(200, {"count": len(existing), "value": existing}), (201, {})])
    if posts:
        azuredevops.deliver(event(), cfg(), transport)
    else:
        with pytest.raises(Skip):
            azuredevops.deliver(event(), cfg(), transport)
    assert [r.method for r in transport.requests] == (["GET", "POST"] if posts else ["GET"])


@pytest.mark.parametrize(
    ("answers", "prefix", "retryable"),
    [
        ([(401, b"")], "could not list commit statuses: ", False),
        ([(500, b"")], "could not list commit statuses: ", True),
        ([(200, {"value": []}), (400, {"message": "bad"})], "could not create commit status: ", False),
        ([(200, {"value": []}), (429, b"")], "could not create commit status: ", True),
    ],
)
def test_deliver_errors(answers, prefix, retryable):
    with pytest.raises(DeliveryError) as err:
        azuredevops.deliver(event(), cfg(token="s3cr3t-pat"), FakeTransport(answers))
    assert str(err.value).startswith(prefix)
    assert err.value.retryable is retryable
    assert "s3cr3t-pat" not in str(err.value)


def test_render_with_alert_summary():
    manifests = provider_yaml("azuredevops", ADDRESS, token="pat").replace(
        "eventSources:", "summary: production\n  eventSources:"
    )
    result = render_yaml(manifests, raw_event())
    assert result["error"] is None
    [delivery] = result["deliveries"]
    assert (delivery["method"], delivery["url"]) == ("POST", URL)
    assert delivery["headers"]["Authorization"] == AUTH
    assert delivery["body"] == {
        "context": {"genre": "fluxcd:production", "name": CONTEXT},
        "description": "reconciliation succeeded",
        "state": "succeeded",
    }


def test_render_without_token():
    assert (
        render_yaml(provider_yaml("azuredevops", ADDRESS, token=None), raw_event())["error"]
        == azuredevops.NO_TOKEN
    )
