"""gitea commit status (spec §5.24): version probe, read before write, pending for Progressing."""

from __future__ import annotations

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
from fixtures.tls_fixtures import https_sink, pki

from fluxnotify.config.options import ConfigError
from fluxnotify.providers.base import ProviderError
from fluxnotify.providers.git import gitea
from fluxnotify.transport.http import DeliveryError, TLSMaterial, Transport
from helpers import dispatch

STATUSES = f"/api/v1/repos/owner/repo/commits/{SHA}/statuses?limit=50&page=1"


def cfg(address: str = "https://gitea.example.com/owner/repo", **values):
    values.setdefault("commit_status", CONTEXT)
    return config("gitea", address, **values)


def test_render_posts_the_status():
    [result] = render_text(manifests("gitea", "https://gitea.example.com/owner/repo.git"), raw_event())
    assert result["error"] is None and result["skipped"] is None
    [delivery] = result["deliveries"]
    assert delivery["method"] == "POST"
    assert delivery["url"] == f"https://gitea.example.com/api/v1/repos/owner/repo/statuses/{SHA}"
    assert delivery["headers"] == {"Authorization": f"token {TOKEN}", "Content-Type": "application/json"}
    assert delivery["body"] == {"state": "success", "target_url": "", "description": "reconciliation succeeded",
                                "context": CONTEXT}  # fmt: skip
    assert delivery["raw"] == json.dumps(delivery["body"], separators=(",", ":"))


@pytest.mark.parametrize(
    ("severity", "reason", "state", "desc"),
    [
        ("info", "ReconciliationSucceeded", "success", "reconciliation succeeded"),
        ("error", "HealthCheckFailed", "failure", "health check failed"),
        ("info", "Progressing", "pending", "progressing"),
        ("error", "Progressing", "pending", "progressing"),
        ("trace", "Progressing", "pending", "progressing"),
    ],
)
def test_states(severity, reason, state, desc):
    [request] = gitea.encode(event(severity, reason), cfg())
    body = json.loads(request.body)
    assert (body["state"], body["description"]) == (state, desc)


@pytest.mark.parametrize(
    ("evt", "text"),
    [
        (event("trace"), "can't convert to gitea state"),
        (event(metadata={}), "missing revision metadata"),
        (event(reason="Progressing", metadata={}), "missing revision metadata"),
        (event(metadata={"revision": "main"}), "failed to extract commit hash from 'main' revision"),
    ],
)
def test_event_errors(evt, text):
    with pytest.raises(ProviderError) as err:
        gitea.encode(evt, cfg())
    assert str(err.value) == text


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({"commit_status": ""}, "commit status cannot be empty"),
        ({"commit_status": "", "token": ""}, "commit status cannot be empty"),
        ({"token": ""}, "gitea token cannot be empty"),
        ({"token": "", "address": "x"}, "gitea token cannot be empty"),
        ({"address": "https://gitea.example.com/owner"}, 'invalid repository id "owner"'),
        ({"address": "https://gitea.example.com/a/b/c"}, 'invalid repository id "a/b/c"'),
        ({"address": "https://gitea.example.com/o/r/"}, 'invalid repository id "o/r/"'),
        ({"proxy": "http://proxy:x/"}, "invalid proxy URL"),
        ({"proxy": "http://proxy/\x7f"}, "invalid proxy URL"),
    ],
)
def test_config_errors(values, text):
    address = values.pop("address", "https://gitea.example.com/owner/repo")
    with pytest.raises(ConfigError) as err:
        gitea.validate(cfg(address, **values))
    assert str(err.value) == text


def test_password_is_the_fallback_token():
    [request] = gitea.encode(event(), cfg(token="", password="pw"))
    assert request.headers["Authorization"] == "token pw"


@pytest.fixture
def host(sink):
    return StatusHost(sink, "gitea")


def test_probe_then_read_before_write_over_the_wire(host, sink):
    text = manifests("gitea", f"{sink.url}/owner/repo")
    report = dispatch(text, raw_event())
    assert report.delivered == ["flux-system/git"]
    version, listing, post = sink.requests
    assert (version.method, version.path, version.body) == ("GET", "/api/v1/version", b"")
    assert (listing.method, listing.path, listing.body) == ("GET", STATUSES, b"")
    assert (post.method, post.path) == ("POST", f"/api/v1/repos/owner/repo/statuses/{SHA}")
    assert {r.header("Authorization") for r in sink.requests} == {f"token {TOKEN}"}
    assert post.header("Content-Type") == "application/json"
    assert post.json() == {"state": "success", "target_url": "", "description": "reconciliation succeeded",
                           "context": CONTEXT}  # fmt: skip

    # the same status again: probe, read, find it identical, post nothing
    report = dispatch(text, raw_event())
    assert report.skipped == {"flux-system/git": "an identical commit status already exists"}
    assert [m for m, _ in host.calls()] == ["GET", "GET", "POST", "GET", "GET"]

    # Progressing posts pending even on an error event; then a failure
    dispatch(text, raw_event("error", "Progressing"))
    dispatch(text, raw_event("error", "HealthCheckFailed"))
    assert [p["state"] for p in host.posted] == ["success", "pending", "failure"]


def test_the_latest_status_with_our_context_decides():
    same = {"context": CONTEXT, "status": "success", "description": "reconciliation succeeded"}
    latest = {"context": CONTEXT, "status": "failure", "description": "health check failed"}
    empty = {"context": CONTEXT, "status": "", "description": "x"}
    new = gitea.status(event(), cfg())
    assert gitea.is_duplicate([{"context": "other", "status": "x", "description": "y"}, empty, same, latest], new)
    assert not gitea.is_duplicate([latest, same], new)
    assert not gitea.is_duplicate({"message": "not a list"}, new)


@pytest.mark.parametrize(
    ("method", "part", "status", "prefix", "retryable"),
    [
        ("GET", "/version", 503, "failed creating Gitea client: ", True),
        ("GET", "/version", 404, "failed creating Gitea client: ", False),
        ("GET", "/statuses", 500, "could not list commit statuses: ", True),
        ("GET", "/statuses", 403, "could not list commit statuses: ", False),
        ("POST", "/statuses", 422, "could not create commit status: ", False),
        ("POST", "/statuses", 429, "could not create commit status: ", True),
    ],
)
def test_failures_are_classified_and_never_show_the_token(host, sink, method, part, status, prefix, retryable):
    host.fail(method, part, status)
    with pytest.raises(DeliveryError) as err:
        gitea.deliver(event(), cfg(f"{sink.url}/owner/repo"), Transport())
    assert str(err.value).startswith(prefix)
    assert err.value.retryable is retryable
    assert TOKEN not in str(err.value)


def test_probe_answer_without_a_version_is_permanent(sink):
    sink.default = (200, {}, b'{"nothing": 1}')
    with pytest.raises(DeliveryError) as err:
        gitea.deliver(event(), cfg(f"{sink.url}/owner/repo"), Transport())
    assert str(err.value).startswith("failed creating Gitea client: ") and not err.value.retryable
    assert len(sink.requests) == 1


def test_unreachable_server_is_retried_by_the_dispatcher():
    report = dispatch(manifests("gitea", f"{closed_port_url()}/owner/repo"), raw_event())
    assert [m["targets"] for m in report.retries] == [["flux-system/git"]] and report.dead_letters == []


@pytest.fixture(scope="module")
def tls_sink(tmp_path_factory):
    with https_sink(tmp_path_factory.mktemp("tls")) as server:
        yield server


def test_untrusted_certificate_fails_the_probe_for_good(tls_sink):
    tls_sink.requests.clear()
    with pytest.raises(DeliveryError) as err:
        gitea.deliver(event(), cfg(f"{tls_sink.url}/owner/repo"), Transport())
    assert str(err.value).startswith("failed creating Gitea client: ")
    assert "CERTIFICATE_VERIFY_FAILED" in str(err.value) and not err.value.retryable
    assert tls_sink.requests == []


def test_the_provider_ca_is_trusted_for_every_call(tls_sink):
    tls_sink.requests.clear()
    StatusHost(tls_sink, "gitea")
    gitea.deliver(event(), cfg(f"{tls_sink.url}/owner/repo", tls=TLSMaterial(ca=pki()["ca"])), Transport())
    assert [r.method for r in tls_sink.requests] == ["GET", "GET", "POST"]


def test_proxy_and_tls_are_honoured_on_every_call():
    tls = TLSMaterial(ca="CA")
    transport = FakeTransport([(200, {"version": "1.22.0"}), (200, []), (201, {})])
    gitea.deliver(event(), cfg(tls=tls, proxy="http://proxy:3128", timeout=5.0), transport)
    assert [options for _, options in transport.sent] == [{"proxy": "http://proxy:3128", "tls": tls, "timeout": 5.0}] * 3


def test_flux_docs_example_is_ready():
    assert ready(docs_yaml("gitea"))["Provider/flux-system/gitea-status"] == ("True", "Initialized")


def test_flux_docs_example_builds_a_client():
    """What validate will say once it fills the commit status (issue 12.1): no config error."""
    gitea.validate(resolved(docs_yaml("gitea"), "flux-system/gitea-status", commit_status=CONTEXT))
    without_token = docs_yaml("gitea").replace("token: <GITEA-TOKEN>", "username: x")
    with pytest.raises(ConfigError, match="^gitea token cannot be empty$"):
        gitea.validate(resolved(without_token, "flux-system/gitea-status", commit_status=CONTEXT))


def test_validate_reports_the_token_error():
    without_token = docs_yaml("gitea").replace("token: <GITEA-TOKEN>", "other: x")
    expected = "Secret flux-system/gitea-token has no 'token' key (gitea token cannot be empty)"
    assert ready(without_token)["Provider/flux-system/gitea-status"] == ("False", expected)
