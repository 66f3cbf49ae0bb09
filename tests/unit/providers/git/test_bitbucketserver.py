"""bitbucketserver build status (spec §5.26): clone-URL parsing, read before write, its error texts."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from fixtures.git.forge_fixtures import (
    CONTEXT,
    SHA,
    TOKEN,
    StatusHost,
    closed_port_url,
    config,
    docs_yaml,
    manifests,
    raw_event,
    ready,
    render_text,
    resolved,
)
from fixtures.git.gitstatus_fixtures import FakeTransport, event

from fluxnotify.config.options import ConfigError
from fluxnotify.providers.base import ProviderError, Skip
from fluxnotify.providers.git import bitbucketserver
from fluxnotify.transport.http import DeliveryError, Response, TLSMaterial, Transport
from helpers import dispatch

ADDRESS = "https://example.com:7990/scm/projectfoo/repobar.git"
KEY = hashlib.sha1(CONTEXT.encode()).hexdigest()
BUILDS = f"/rest/api/latest/projects/projectfoo/repos/repobar/commits/{SHA}/builds"
HEADERS = {"X-Atlassian-Token": "no-check", "X-Requested-With": "XMLHttpRequest"}


def cfg(address: str = ADDRESS, **values):
    values.setdefault("commit_status", CONTEXT)
    return config("bitbucketserver", address, **values)


@pytest.mark.parametrize(
    ("address", "api"),
    [
        (ADDRESS, "https://example.com:7990/rest/api/latest/projects/projectfoo/repos/repobar/commits"),
        ("https://example.com:7990/context1/context2/context3/scm/projectfoo/repobar.git",
         "https://example.com:7990/context1/context2/context3/rest/api/latest/projects/projectfoo/repos/repobar/commits"),
        ("https://example.com:7990/scm/scm/projectfoo/repobar.git",
         "https://example.com:7990/scm/rest/api/latest/projects/projectfoo/repos/repobar/commits"),
        ("http://example.com/scm/projectfoo/repobar",
         "http://example.com/rest/api/latest/projects/projectfoo/repos/repobar/commits"),
        ("https://user:pw@example.com/scm/p/r.git", "https://example.com/rest/api/latest/projects/p/repos/r/commits"),
    ],
)  # fmt: skip
def test_clone_urls_give_the_api_path(address, api):
    assert bitbucketserver.api_path(address) == api


@pytest.mark.parametrize(
    ("address", "text"),
    [
        ("ssh://git@host:2222/ap/repo.git", "unsupported scheme type in address: ssh. Must be http or https"),
        ("example.com/scm/p/r.git", "unsupported scheme type in address: . Must be http or https"),
        ("", "unsupported scheme type in address: . Must be http or https"),
        ("https://example.com/projects/p/repos/r", "supplied provider address is not http(s) git clone url"),
        ("https://example.com/scm/p", 'invalid repository id "p"'),
        ("https://example.com/scm/p/r/x.git", 'invalid repository id "p/r/x"'),
        ("https://exa mple.com/scm/p/r.git", 'parse "https://exa mple.com/scm/p/r.git": invalid character " " in host name'),
        ("https://example.com/scm/p/r\n", 'parse "https://example.com/scm/p/r\\n": net/url: invalid control character in URL'),
    ],
)  # fmt: skip
def test_address_errors(address, text):
    with pytest.raises(ConfigError) as err:
        bitbucketserver.validate(cfg(address))
    assert str(err.value) == "could not parse git address: " + text


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"commit_status": ""}, "commit status cannot be empty"),
        ({"token": ""}, "invalid credentials, expected to be one of username/password or API Token"),
        ({"token": "", "username": "u"}, "invalid credentials, expected to be one of username/password or API Token"),
        ({"token": "", "password": "p"}, "invalid credentials, expected to be one of username/password or API Token"),
        ({"token": "", "commit_status": ""}, "commit status cannot be empty"),
        ({"token": "", "commit_status": "", "address": "ssh://h/a/b"},
         "could not parse git address: unsupported scheme type in address: ssh. Must be http or https"),
    ],
)  # fmt: skip
def test_construction_errors_in_order(values, text):
    address = values.pop("address", ADDRESS)
    with pytest.raises(ConfigError) as err:
        bitbucketserver.validate(cfg(address, **values))
    assert str(err.value) == text


def test_render_posts_the_build_status():
    [result] = render_text(manifests("bitbucketserver", ADDRESS), raw_event())
    assert result["error"] is None and result["skipped"] is None
    [delivery] = result["deliveries"]
    assert delivery["method"] == "POST"
    assert delivery["url"] == "https://example.com:7990" + BUILDS
    assert delivery["headers"] == {"Authorization": f"Bearer {TOKEN}", **HEADERS, "Content-Type": "application/json"}
    assert delivery["raw"] == (
        '{"description":"reconciliation succeeded","key":"' + KEY + '","name":"kustomization/podinfo '
        '[reconciliation succeeded]","state":"SUCCESSFUL","url":"' + ADDRESS + '"}\n'
    )


def test_basic_auth_and_an_empty_description_is_omitted():
    conf = cfg(token="", username="flux", password="s3cret")
    [request] = bitbucketserver.encode(event("error", ""), conf)
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"flux:s3cret").decode()
    assert request.body == (
        b'{"key":"' + KEY.encode() + b'","name":"kustomization/gitops-system []","state":"FAILED","url":"'
        + ADDRESS.encode() + b'"}\n'
    )  # fmt: skip


def test_the_url_is_the_address_as_configured_html_escaped():
    address = "https://example.com/scm/p/r.git?a=1&b=<2>"
    [request] = bitbucketserver.encode(event(), cfg(address))
    assert json.loads(request.body)["url"] == address
    assert b"a=1\\u0026b=\\u003c2\\u003e" in request.body


@pytest.mark.parametrize(
    ("evt", "text"),
    [
        (event(metadata={}), "could not parse revision: missing revision metadata"),
        (event(metadata={"revision": "main"}), "could not parse revision: failed to extract commit hash from 'main' revision"),
        (event("trace"), "couldn't convert to bitbucket server state: "
                         "bitbucket server state generated on info or error events only"),
    ],
)  # fmt: skip
def test_event_errors(evt, text):
    with pytest.raises(ProviderError) as err:
        bitbucketserver.encode(evt, cfg())
    assert str(err.value) == text


def test_progressing_sends_nothing():
    with pytest.raises(Skip, match="^Progressing$"):
        bitbucketserver.encode(event(reason="Progressing", metadata={}), cfg())


@pytest.fixture
def host(sink):
    return StatusHost(sink, "bitbucketserver")


def test_read_before_write_over_the_wire(host, sink):
    text = manifests("bitbucketserver", f"{sink.url}/scm/projectfoo/repobar.git")
    report = dispatch(text, raw_event())
    assert report.delivered == ["flux-system/git"]
    get, post = sink.requests
    assert (get.method, get.path, get.body) == ("GET", f"{BUILDS}?key={KEY}", b"")
    assert (post.method, post.path) == ("POST", BUILDS)
    for request in (get, post):
        assert request.header("Authorization") == f"Bearer {TOKEN}"
        assert {k: request.header(k) for k in HEADERS} == HEADERS
    assert get.header("Content-Type") is None and post.header("Content-Type") == "application/json"
    assert post.json() == {"description": "reconciliation succeeded", "key": KEY,
                           "name": "kustomization/podinfo [reconciliation succeeded]", "state": "SUCCESSFUL",
                           "url": f"{sink.url}/scm/projectfoo/repobar.git"}  # fmt: skip

    report = dispatch(text, raw_event())
    assert report.skipped == {"flux-system/git": "an identical commit status already exists"}
    report = dispatch(text, raw_event("error", "HealthCheckFailed"))
    assert report.delivered == ["flux-system/git"]
    assert [m for m, _ in host.calls()] == ["GET", "POST", "GET", "GET", "POST"]
    assert host.posted[-1]["state"] == "FAILED"


def answer(status: int, body: bytes = b"") -> Response:
    return Response(status, {}, body)


def test_duplicate_needs_key_state_description_and_name():
    new = bitbucketserver.status(event(), cfg())
    expected = bitbucketserver.build_status(event(), new, ADDRESS)
    same = json.dumps({**expected, "url": "https://elsewhere"}).encode()
    assert bitbucketserver.is_duplicate(answer(200, same), expected)
    for field in ("key", "state", "description", "name"):
        changed = json.dumps({**expected, field: "other"}).encode()
        assert not bitbucketserver.is_duplicate(answer(200, changed), expected)
    assert not bitbucketserver.is_duplicate(answer(204, same), expected)
    assert not bitbucketserver.is_duplicate(answer(404, b"{}"), expected)


@pytest.mark.parametrize(
    ("body", "problem"),
    [(b"", "unexpected end of JSON input"), (b"[]", "json: cannot unmarshal list into a build status")],
)
def test_a_200_answer_must_be_a_json_object(body, problem):
    new = bitbucketserver.status(event(), cfg())
    with pytest.raises(DeliveryError) as err:
        bitbucketserver.is_duplicate(answer(200, body), bitbucketserver.build_status(event(), new, ADDRESS))
    assert str(err.value) == (
        "could not get existing commit status: could not unmarshal json response body for duplicate commit status: "
        + problem
    )
    assert not err.value.retryable


@pytest.mark.parametrize(
    ("method", "status", "text", "retryable"),
    [
        ("GET", 400, "could not get existing commit status: failed api call to check duplicate commit status: "
                     "400 - Bad Request", False),
        ("GET", 503, "could not get existing commit status: failed api call to check duplicate commit status: "
                     "503 - Service Unavailable", True),
        ("POST", 401, "could not post build status: could not post build commit status: 401 - Unauthorized", False),
        ("POST", 500, "could not post build status: could not post build commit status: "
                      "500 - Internal Server Error", True),
        ("POST", 429, "could not post build status: could not post build commit status: "
                      "429 - Too Many Requests", True),
    ],
)  # fmt: skip
def test_failures_carry_code_and_phrase_only(host, sink, method, status, text, retryable):
    host.fail(method, "/builds", status)
    with pytest.raises(DeliveryError) as err:
        bitbucketserver.deliver(event(), cfg(f"{sink.url}/scm/projectfoo/repobar.git"), Transport())
    assert str(err.value) == text
    assert err.value.retryable is retryable


def test_empty_200_answer_over_the_wire_is_dead_lettered(sink):
    sink.default = (200, {}, b"")
    report = dispatch(manifests("bitbucketserver", f"{sink.url}/scm/projectfoo/repobar.git"), raw_event())
    [letter] = report.dead_letters
    assert letter["error"].endswith("unexpected end of JSON input")
    assert [r.method for r in sink.requests] == ["GET"]


def test_unreachable_server_is_retried_and_the_token_never_shows():
    report = dispatch(manifests("bitbucketserver", f"{closed_port_url()}/scm/p/r.git"), raw_event())
    [retry] = report.retries
    assert retry["targets"] == ["flux-system/git"] and TOKEN not in json.dumps(retry)


def test_tls_is_honoured_and_the_proxy_is_not():
    tls = TLSMaterial(ca="CA")
    transport = FakeTransport([(404, {}), (204, b"")])
    bitbucketserver.deliver(event(), cfg(tls=tls, proxy="http://proxy:3128"), transport)
    assert [options for _, options in transport.sent] == [{"proxy": "", "tls": tls, "timeout": 15.0}] * 2


def test_flux_docs_examples_validate_as_flux_would():
    verdict = ready(docs_yaml("bitbucketserver"))
    assert verdict["Provider/flux-system/bb-server-basic"] == ("True", "Initialized")
    assert verdict["Provider/flux-system/bb-server-token"] == ("True", "Initialized")
    # password without username in the Secret: the all-or-nothing rule drops it (spec §7.1)
    assert verdict["Provider/flux-system/bb-server-spec-username"] == (
        "False", "invalid credentials, expected to be one of username/password or API Token")


def test_flux_docs_examples_build_clients():
    """What validate will say once it fills the commit status (issue 12.1)."""
    text = docs_yaml("bitbucketserver")
    for key in ("flux-system/bb-server-basic", "flux-system/bb-server-token"):
        bitbucketserver.validate(resolved(text, key, commit_status=CONTEXT))
    basic = bitbucketserver.repository(resolved(text, "flux-system/bb-server-basic", commit_status=CONTEXT))
    assert basic.authorization == "Basic " + base64.b64encode(b"<username>:<password>").decode()
    with pytest.raises(ConfigError, match="^invalid credentials, expected to be one of username/password or API Token$"):
        bitbucketserver.validate(resolved(text, "flux-system/bb-server-spec-username", commit_status=CONTEXT))


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("ssh://git@bitbucket.example.com:7999/projectfoo/repobar.git",
         "could not parse git address: unsupported scheme type in address: ssh. Must be http or https"),
        ("https://bitbucket.example.com/projects/projectfoo/repos/repobar",
         "could not parse git address: supplied provider address is not http(s) git clone url"),
    ],
)  # fmt: skip
def test_validate_reports_address_errors_first(address, message):
    text = docs_yaml("bitbucketserver").replace("https://bitbucket.example.com:7990/scm/projectfoo/repobar.git", address)
    assert ready(text)["Provider/flux-system/bb-server-token"] == ("False", message)
