"""datadog (spec §5.29): Events API v1 body, lower-cased tags, site from the address."""

from __future__ import annotations

import json

import pytest
from fixtures.incident.incident_helpers import (
    alert_yaml,
    config,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
    secret_yaml,
)

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.transport.http import DeliveryError, Transport

API_KEY = "0123456789abcdef0123456789abcdef"


def cfg(**values):
    values.setdefault("address", "https://api.datadoghq.eu")
    values.setdefault("token", API_KEY)
    return config("datadog", **values)


def encode_one(evt, c=None):
    c = c or cfg()
    providers.validate(c)
    (request,) = providers.encode(evt, c)
    return request


def test_request_and_body():
    request = encode_one(event("error", "Health check failed", {"Env": "Prod"}, "HealthCheckFailed"))
    assert request.method == "POST"
    assert request.url == "https://api.datadoghq.eu/api/v1/events"
    assert request.headers == {
        "Content-Type": "application/json",
        "Dd-Api-Key": API_KEY,
        "Accept": "application/json",
    }
    assert json.loads(request.body) == {
        "alert_type": "error",
        "date_happened": 1664520029,
        "source_type_name": "fluxcd",
        "tags": [
            "flux_reporting_controller:source-controller",
            "flux_reason:healthcheckfailed",
            "kube_kind:gitrepository",
            "kube_name:webapp",
            "kube_namespace:gitops-system",
            "env:prod",
        ],
        "text": "Health check failed",
        "title": "Events from the GitRepository webapp/gitops-system",
    }


@pytest.mark.parametrize("severity", ["info", "trace"])
def test_non_error_is_info(severity):
    assert json.loads(encode_one(event(severity)).body)["alert_type"] == "info"


@pytest.mark.parametrize(
    ("address", "url"),
    [
        ("https://api.datadoghq.com/some/path?x=1", "https://api.datadoghq.com/api/v1/events"),
        ("http://127.0.0.1:8126", "http://127.0.0.1:8126/api/v1/events"),
        ("", "https://api.datadoghq.com/api/v1/events"),
    ],
)
def test_site_is_scheme_and_host(address, url):
    assert encode_one(event(), cfg(address=address)).url == url


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"token": ""}, "token cannot be empty"),
        (
            {"address": "https://bad url :)"},
            'failed to parse address "https://bad url :)": parse "https://bad url :)": '
            'invalid port ":)" after host',  # Go checks the port first
        ),
        (
            {"proxy": "http://bad proxy"},
            'failed to parse proxy URL "http://bad proxy": parse "http://bad proxy": '
            "invalid character \" \" in host name",
        ),
    ],
)
def test_config_errors(values, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(**values))
    assert str(caught.value) == error


def test_render_of_the_flux_docs_example_with_event_metadata():
    manifests = (
        provider_yaml("datadog", address="https://api.datadoghq.com", secretRef={"name": "datadog-secret"})
        + secret_yaml("datadog-secret", token=API_KEY)
        + alert_yaml("datadog", eventMetadata={"env": "my-k8s-cluster"})
    )
    (result,) = render_yaml(manifests, raw_event())
    (delivery,) = result["deliveries"]
    assert delivery["url"] == "https://api.datadoghq.com/api/v1/events"
    assert delivery["body"]["tags"][-1] == "env:my-k8s-cluster"


def test_delivery_to_sink(sink):
    sink.respond(202, '{"status": "ok"}')
    providers.deliver(event(), cfg(address=sink.url + "/ignored"), Transport())
    (captured,) = sink.wait_for(1)
    assert (captured.method, captured.path) == ("POST", "/api/v1/events")
    assert captured.header("DD-API-KEY") == API_KEY
    assert captured.header("Accept") == "application/json"
    assert captured.json()["source_type_name"] == "fluxcd"


@pytest.mark.parametrize(("status", "retryable"), [(403, False), (500, True), (429, True)])
def test_failures(sink, status, retryable):
    sink.respond(status, "denied")
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(address=sink.url), Transport())
    assert str(caught.value).startswith(f"failed to post event to DataDog: POST {sink.url}/… answered {status} ")
    assert caught.value.retryable is retryable
    assert API_KEY not in str(caught.value)
