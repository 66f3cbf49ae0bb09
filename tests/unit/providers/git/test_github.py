"""github (spec §5.7): construction errors, the POST, enterprise bases, read-before-write."""

from __future__ import annotations

import json

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
from fluxnotify.providers.git import github, githubapi
from fluxnotify.transport.http import DeliveryError, TLSMaterial

ADDRESS = "https://github.com/owner/repo"
HEADERS = {
    "Authorization": "Bearer t0ken",
    "Accept": "application/vnd.github.v3+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "go-github/v64.0.0",
}


def cfg(address: str = ADDRESS, **values):
    values.setdefault("token", "t0ken")
    return config("github", address, **values)


def encode_one(evt=None, conf=None):
    [request] = github.encode(evt or event(), conf or cfg())
    return request


def test_post_success():
    request = encode_one()
    assert request.method == "POST"
    assert request.url == f"https://api.github.com/repos/owner/repo/statuses/{SHA}"
    assert request.headers == {**HEADERS, "Content-Type": "application/json"}
    assert request.body == (
        b'{"state":"success","description":"reconciliation succeeded",'
        b'"context":"kustomization/gitops-system/0c9c2e41"}\n'
    )


def test_post_failure_and_html_is_not_escaped():
    request = encode_one(event("error", "HealthCheckFailed"), cfg(commit_status="a<b>&c"))
    assert body(request) == {"state": "failure", "description": "health check failed", "context": "a<b>&c"}
    assert b"a<b>&c" in request.body


def test_password_is_the_fallback_token():
    assert encode_one(conf=cfg(token="", password="pw")).headers["Authorization"] == "Bearer pw"


def test_progressing_is_skipped():
    with pytest.raises(Skip, match="^Progressing$"):
        github.encode(event(reason="Progressing"), cfg())


@pytest.mark.parametrize(
    ("evt", "text"),
    [
        (event(metadata={}), "missing revision metadata"),
        (event(metadata={"revision": "main"}), "failed to extract commit hash from 'main' revision"),
        (event("trace"), "can't convert to github state"),
    ],
)
def test_event_errors(evt, text):
    with pytest.raises(ProviderError) as err:
        github.encode(evt, cfg())
    assert str(err.value) == text


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"commit_status": ""}, "commit status cannot be empty"),
        ({"token": ""}, "github token or github app details must be specified"),
        ({"address": "https://github.com/owner"}, "invalid repository id: 'owner'"),
        ({"address": "https://github.com/a/b/c"}, "invalid repository id: 'a/b/c'"),
        ({"address": "https://github.com/owner/repo/"}, "invalid repository id: 'owner/repo/'"),
        ({"address": ""}, "invalid repository id: ''"),
        # order: commit status first, then the token, then the address
        ({"commit_status": "", "token": "", "address": "x"}, "commit status cannot be empty"),
        ({"token": "", "address": "x"}, "github token or github app details must be specified"),
    ],
)
def test_config_errors(values, text):
    address = values.pop("address", ADDRESS)
    with pytest.raises(ConfigError) as err:
        github.validate(cfg(address, **values))
    assert str(err.value) == text


@pytest.mark.parametrize(
    ("secret", "text"),
    [
        ({"githubAppID": ""}, "app ID must be provided to use github app authentication"),
        ({"githubAppID": "x1", "githubAppInstallationID": "2", "githubAppPrivateKey": "k"},
         "app ID must be provided to use github app authentication"),
        ({"githubAppID": "1", "githubAppPrivateKey": "k"},
         "app installation owner or ID must be provided to use github app authentication"),
        ({"githubAppID": "1", "githubAppInstallationID": "2", "githubAppInstallationOwner": "o",
          "githubAppPrivateKey": "k"},
         "only one of app installation owner or ID must be provided to use github app authentication"),
        ({"githubAppID": "1", "githubAppInstallationID": "2"},
         "private key must be provided to use github app authentication"),
    ],
)  # fmt: skip
def test_github_app_config_errors(secret, text):
    with pytest.raises(ConfigError) as err:
        github.validate(cfg(token="", secret=secret))
    assert str(err.value) == text


def test_github_app_unparsable_key():
    secret = {"githubAppID": "1", "githubAppInstallationID": "2", "githubAppPrivateKey": "junk"}
    with pytest.raises(ConfigError, match="^could not parse private key: "):
        github.validate(cfg(token="", secret=secret))


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("https://github.example.com/o/r", "https://github.example.com/api/v3/repos/o/r/statuses/"),
        ("git@github.example.com:o/r.git", "https://github.example.com/api/v3/repos/o/r/statuses/"),
        ("http://127.0.0.1:8080/o/r", "http://127.0.0.1:8080/api/v3/repos/o/r/statuses/"),
        ("https://api.example.com/o/r", "https://api.example.com/repos/o/r/statuses/"),
        ("https://gh.api.example.com/o/r", "https://gh.api.example.com/repos/o/r/statuses/"),
        ("ssh://git@github.com/o/r", "https://api.github.com/repos/o/r/statuses/"),
        ("https://github.com:443/o/r", "https://github.com:443/api/v3/repos/o/r/statuses/"),
    ],
)
def test_api_bases(address, url):
    assert encode_one(conf=cfg(address)).url == url + SHA


def test_owner_and_repo_are_percent_encoded():
    request = encode_one(conf=cfg("https://github.example.com/o%3Fx=1/r%23y"))
    assert request.url == f"https://github.example.com/api/v3/repos/o%3Fx%3D1/r%23y/statuses/{SHA}"


def list_of(*items):
    return (200, list(items))


def test_deliver_posts_when_no_status_exists():
    transport = FakeTransport([list_of(), (201, {})])
    github.deliver(event(), cfg(), transport)
    get, post = transport.requests
    assert get.method == "GET"
    assert get.url == f"https://api.github.com/repos/owner/repo/commits/{SHA}/statuses?per_page=50"
    assert get.headers == HEADERS and get.body == b""
    assert post == encode_one()
    # github.com: no TLS material, no proxy, the provider timeout
    assert [options for _, options in transport.sent] == [{"proxy": "", "tls": None, "timeout": 15.0}] * 2


def test_deliver_skips_an_identical_latest_status():
    same = {"context": CONTEXT, "state": "success", "description": "reconciliation succeeded"}
    older = {"context": CONTEXT, "state": "failure", "description": "health check failed"}
    transport = FakeTransport([list_of({"context": "other", "state": "x", "description": "y"}, same, older)])
    with pytest.raises(Skip, match="identical commit status"):
        github.deliver(event(), cfg(), transport)
    assert [r.method for r in transport.requests] == ["GET"]


def test_deliver_posts_when_the_latest_status_differs():
    older_same = {"context": CONTEXT, "state": "success", "description": "reconciliation succeeded"}
    latest = {"context": CONTEXT, "state": "failure", "description": "health check failed"}
    transport = FakeTransport([list_of(latest, older_same), (201, {})])
    github.deliver(event(), cfg(), transport)
    assert [r.method for r in transport.requests] == ["GET", "POST"]


def test_incomplete_items_are_skipped_by_the_duplicate_check():
    incomplete = {"context": CONTEXT, "state": "failure", "description": None}
    same = {"context": CONTEXT, "state": "success", "description": "reconciliation succeeded"}
    transport = FakeTransport([list_of(incomplete, same)])
    with pytest.raises(Skip):
        github.deliver(event(), cfg(), transport)


def test_enterprise_uses_tls_material():
    tls = TLSMaterial(ca="CA")
    transport = FakeTransport([list_of(), (201, {})])
    github.deliver(event(), cfg("https://ghe.example.com/o/r", tls=tls, proxy="http://proxy:3128"), transport)
    assert [options["tls"] for _, options in transport.sent] == [tls, tls]
    assert [options["proxy"] for _, options in transport.sent] == ["", ""]
    transport = FakeTransport([list_of(), (201, {})])
    github.deliver(event(), cfg(tls=tls), transport)
    assert [options["tls"] for _, options in transport.sent] == [None, None]


@pytest.mark.parametrize(
    ("answers", "prefix", "retryable"),
    [
        ([(500, {"message": "boom"})], "could not list commit statuses: ", True),
        ([(429, {})], "could not list commit statuses: ", True),
        ([(404, {"message": "Not Found"})], "could not list commit statuses: ", False),
        ([(202, [])], "could not list commit statuses: ", False),
        ([list_of(), (422, {"message": "Validation Failed"})], "could not create commit status: ", False),
        ([list_of(), (502, b"bad gateway")], "could not create commit status: ", True),
        ([list_of(), (202, {})], "could not create commit status: ", False),
        ([(200, b"<html>")], "could not list commit statuses: ", False),
    ],
)
def test_deliver_errors(answers, prefix, retryable):
    with pytest.raises(DeliveryError) as err:
        github.deliver(event(), cfg(token="s3cr3t-t0ken"), FakeTransport(answers))
    assert str(err.value).startswith(prefix)
    assert err.value.retryable is retryable
    assert "s3cr3t-t0ken" not in str(err.value)


def test_render_info_event_with_commit_key():
    result = render_yaml(provider_yaml("github", ADDRESS), raw_event())
    assert result == {
        "provider": "flux-system/git",
        "type": "github",
        "deliveries": [
            {
                "method": "POST",
                "url": f"https://api.github.com/repos/owner/repo/statuses/{SHA}",
                "headers": {**HEADERS, "Content-Type": "application/json"},
                "body": {"state": "success", "description": "reconciliation succeeded", "context": CONTEXT},
                "raw": json.dumps(
                    {"state": "success", "description": "reconciliation succeeded", "context": CONTEXT},
                    separators=(",", ":"),
                )
                + "\n",
                "proxy": None,
                "timeout": 15.0,
            }
        ],
        "skipped": None,
        "error": None,
    }


def test_render_info_event_without_commit_key_is_dropped():
    raw = raw_event()
    del raw["metadata"]["event.toolkit.fluxcd.io/commit"]
    result = render_yaml(provider_yaml("github", ADDRESS), raw)
    assert result["deliveries"] == [] and result["error"] is None
    assert result["skipped"] == "event dropped for commit status providers due to missing commit metadata key"


def test_render_error_event_and_commit_status_update_pass_without_commit_key():
    raw = raw_event("error", "HealthCheckFailed")
    del raw["metadata"]["event.toolkit.fluxcd.io/commit"]
    result = render_yaml(provider_yaml("github", ADDRESS), raw)
    assert result["deliveries"][0]["body"]["state"] == "failure"
    raw = raw_event(**{"kustomize.toolkit.fluxcd.io/commit_status": "update"})
    del raw["metadata"]["event.toolkit.fluxcd.io/commit"]
    assert render_yaml(provider_yaml("github", ADDRESS), raw)["deliveries"]


def test_render_commit_key_wins_over_revision():
    other = "b" * 40
    raw = raw_event(**{"event.toolkit.fluxcd.io/commit": other})
    result = render_yaml(provider_yaml("github", ADDRESS), raw)
    assert result["deliveries"][0]["url"].endswith(f"/statuses/{other}")


def test_render_progressing_and_config_error():
    result = render_yaml(provider_yaml("github", ADDRESS), raw_event(reason="Progressing"))
    assert result["skipped"] == "Progressing" and result["deliveries"] == []
    result = render_yaml(provider_yaml("github", ADDRESS, token=""), raw_event())
    assert result["error"] == "github token or github app details must be specified"
    result = render_yaml(
        provider_yaml("github", ADDRESS), raw_event(**{"event.toolkit.fluxcd.io/commit": "abc"})
    )
    assert result["error"] == "failed to extract commit hash from 'abc' revision"


def _app_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def test_github_app_installation_token_by_owner(monkeypatch):
    import base64

    monkeypatch.setattr(githubapi, "_TOKENS", {})
    key = _app_key()
    secret = {
        "githubAppID": "123",
        "githubAppInstallationOwner": "my-org",
        "githubAppPrivateKey": key,
        "githubAppBaseURL": "https://ghe.example.com/api/v3",
    }
    conf = cfg(token="", secret=secret, proxy="http://proxy:3128")
    # render shows a placeholder: the token exists only at delivery time
    assert encode_one(conf=conf).headers["Authorization"] == "Bearer <github app installation token>"
    transport = FakeTransport([
        (404, {"message": "Not Found"}),
        (200, {"id": 77}),
        (201, {"token": "ghs_installation", "expires_at": "2999-01-01T00:00:00Z"}),
        list_of(),
        (201, {}),
    ])  # fmt: skip
    github.deliver(event(), conf, transport)
    org, user, token, get, post = transport.requests
    assert (org.method, org.url) == ("GET", "https://ghe.example.com/api/v3/orgs/my-org/installation")
    assert (user.method, user.url) == ("GET", "https://ghe.example.com/api/v3/users/my-org/installation")
    assert (token.method, token.url) == (
        "POST",
        "https://ghe.example.com/api/v3/app/installations/77/access_tokens",
    )
    jwt = token.headers["Authorization"].removeprefix("Bearer ")
    claims = json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "=="))
    assert claims["iss"] == "123" and claims["exp"] - claims["iat"] == 120
    assert get.headers["Authorization"] == post.headers["Authorization"] == "Bearer ghs_installation"
    # the token calls use the provider proxy, the API calls do not
    assert [options["proxy"] for _, options in transport.sent] == ["http://proxy:3128"] * 3 + ["", ""]
    # the installation token is cached until shortly before it expires
    transport = FakeTransport([list_of(), (201, {})])
    github.deliver(event(), conf, transport)
    assert [r.method for r in transport.requests] == ["GET", "POST"]


def test_github_app_token_failure_is_reported(monkeypatch):
    monkeypatch.setattr(githubapi, "_TOKENS", {})
    secret = {"githubAppID": "1", "githubAppInstallationID": "5", "githubAppPrivateKey": _app_key()}
    with pytest.raises(DeliveryError) as err:
        github.deliver(
            event(), cfg(token="", secret=secret), FakeTransport([(401, {"message": "Bad credentials"})])
        )
    assert str(err.value).startswith("failed to get github app installation token: the server answered 401")
    assert not err.value.retryable
