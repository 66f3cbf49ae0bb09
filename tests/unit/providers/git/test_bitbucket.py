"""bitbucket (spec §5.9): token format, SHA-1 key, fixed API base, read-before-write."""

from __future__ import annotations

import base64
import hashlib

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
from fluxnotify.providers.git import bitbucket
from fluxnotify.transport.http import DeliveryError, TLSMaterial

ADDRESS = "https://bitbucket.org/owner/repo"
KEY = hashlib.sha1(CONTEXT.encode()).hexdigest()
AUTH = "Basic " + base64.b64encode(b"user:app-pass").decode()
BASE = f"https://api.bitbucket.org/2.0/repositories/owner/repo/commit/{SHA}/statuses/build"


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv("BITBUCKET_API_BASE_URL", raising=False)


def cfg(address: str = ADDRESS, **values):
    values.setdefault("token", "user:app-pass")
    return config("bitbucket", address, **values)


def encode_one(evt=None, conf=None):
    [request] = bitbucket.encode(evt or event(), conf or cfg())
    return request


def test_post_success():
    request = encode_one()
    assert request.method == "POST"
    assert request.url == BASE
    assert request.headers == {
        "Authorization": AUTH,
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    assert request.body == (
        b'{"key":"c99410a43c260fddd152a40c296bddfa0b8fd879","url":"https://bitbucket.org","state":"SUCCESSFUL",'
        b'"name":"kustomization/gitops-system","description":"reconciliation succeeded"}'
    )
    assert KEY == "c99410a43c260fddd152a40c296bddfa0b8fd879"  # SHA-1 of the CommitStatus


def test_post_failed_and_host_is_ignored():
    request = encode_one(event("error", "HealthCheckFailed"), cfg("git@bitbucket.example.com:owner/repo.git"))
    assert request.url == BASE
    assert b'"state":"FAILED"' in request.body and b'"description":"health check failed"' in request.body


def test_env_overrides_the_api_base(monkeypatch):
    monkeypatch.setenv("BITBUCKET_API_BASE_URL", "http://127.0.0.1:9/2.0/")
    assert encode_one().url == f"http://127.0.0.1:9/2.0/repositories/owner/repo/commit/{SHA}/statuses/build"


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"token": ""}, "bitbucket token cannot be empty"),
        ({"commit_status": ""}, "commit status cannot be empty"),
        ({"token": "no-colon"}, "invalid token format, expected to be <user>:<password>"),
        ({"token": "user:pass:word"}, "invalid token format, expected to be <user>:<password>"),
        ({"address": "https://bitbucket.org/owner"}, 'invalid repository id "owner"'),
        ({"address": "https://bitbucket.org/a/b/c"}, 'invalid repository id "a/b/c"'),
        # order: token, commit status, token format, repository id
        ({"token": "", "commit_status": ""}, "bitbucket token cannot be empty"),
        ({"token": "x", "commit_status": ""}, "commit status cannot be empty"),
        (
            {"token": "x", "address": "https://bitbucket.org/owner"},
            "invalid token format, expected to be <user>:<password>",
        ),
    ],
)
def test_config_errors(values, text):
    address = values.pop("address", ADDRESS)
    with pytest.raises(ConfigError) as err:
        bitbucket.validate(cfg(address, **values))
    assert str(err.value) == text
    assert "pass:word" not in str(err.value)


def test_password_is_not_a_fallback():
    with pytest.raises(ConfigError, match="^bitbucket token cannot be empty$"):
        bitbucket.validate(cfg(token="", password="user:pw"))


def test_event_rules():
    with pytest.raises(Skip, match="^Progressing$"):
        bitbucket.encode(event(reason="Progressing"), cfg())
    with pytest.raises(ProviderError, match="^can't convert to bitbucket state$"):
        bitbucket.encode(event("warning"), cfg())
    with pytest.raises(ProviderError, match="^missing revision metadata$"):
        bitbucket.encode(event(metadata={}), cfg())


def test_deliver_gets_by_key_then_posts():
    tls = TLSMaterial(ca="CA")
    transport = FakeTransport([(404, {"type": "error"}), (201, {})])
    bitbucket.deliver(event(), cfg(tls=tls, proxy="http://proxy:1"), transport)
    get, post = transport.requests
    assert (get.method, get.url, get.body) == ("GET", f"{BASE}/{KEY}", b"")
    assert get.headers["Authorization"] == AUTH
    assert post == encode_one()
    assert [options for _, options in transport.sent] == [{"proxy": "", "tls": tls, "timeout": 15.0}] * 2


@pytest.mark.parametrize(
    ("existing", "posts"),
    [
        ({"state": "SUCCESSFUL", "description": "reconciliation succeeded", "name": "other"}, False),
        ({"state": "FAILED", "description": "reconciliation succeeded"}, True),
        ({"state": "SUCCESSFUL", "description": "other"}, True),
    ],
)
def test_duplicate_rule(existing, posts):
    transport = FakeTransport([(200, existing), (201, {})])
    if posts:
        bitbucket.deliver(event(), cfg(), transport)
    else:
        with pytest.raises(Skip):
            bitbucket.deliver(event(), cfg(), transport)
    assert [r.method for r in transport.requests] == (["GET", "POST"] if posts else ["GET"])


@pytest.mark.parametrize(
    ("answers", "prefix", "retryable"),
    [
        ([(401, b"Unauthorized")], "could not get commit status: ", False),
        ([(500, b"")], "could not get commit status: ", True),
        ([(404, b""), (400, {"error": "bad"})], "could not create commit status: ", False),
        ([(404, b""), (503, b"")], "could not create commit status: ", True),
    ],
)
def test_deliver_errors(answers, prefix, retryable):
    with pytest.raises(DeliveryError) as err:
        bitbucket.deliver(event(), cfg(token="user:s3cr3t-pass"), FakeTransport(answers))
    assert str(err.value).startswith(prefix)
    assert err.value.retryable is retryable
    assert "s3cr3t-pass" not in str(err.value)


def test_render():
    result = render_yaml(
        provider_yaml("bitbucket", ADDRESS, token="user:app-pass"), raw_event("error", "ApplyFailed")
    )
    assert result["error"] is None
    [delivery] = result["deliveries"]
    assert (delivery["method"], delivery["url"]) == ("POST", BASE)
    assert delivery["headers"]["Authorization"] == AUTH
    assert delivery["body"] == {
        "key": KEY, "url": "https://bitbucket.org", "state": "FAILED",
        "name": "kustomization/gitops-system", "description": "apply failed",
    }  # fmt: skip
    bad = render_yaml(provider_yaml("bitbucket", ADDRESS, token="justatoken"), raw_event())
    assert bad["error"] == "invalid token format, expected to be <user>:<password>"
