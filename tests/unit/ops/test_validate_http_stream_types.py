"""`validate` for grafana, pagerduty, datadog, zulip, zoom, incident.io, nats, otel, googlepubsub:
Flux's docs examples get Flux's verdict; each config error of the spec gets the spec's text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.validate import conditions

DOCS = Path(__file__).resolve().parents[2] / "fixtures" / "flux_docs" / "http_stream_providers.yaml"
V = "notification.toolkit.fluxcd.io/v1beta3"


@pytest.fixture(autouse=True)
def no_emulator(monkeypatch):
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)


def verdicts(text: str) -> dict[str, tuple[str, str]]:
    return {f"{c.kind}/{c.key}": (c.as_dict()["status"], c.message) for c in conditions(load_yaml(text))}


def test_flux_docs_examples():
    found = verdicts(DOCS.read_text())
    ready = {key for key, (status, _) in found.items() if status == "True"}
    assert ready == {
        "Provider/default/grafana",
        "Provider/default/datadog",
        "Alert/default/datadog-info",
        "Provider/default/pagerduty",
        "Alert/default/my-service-pagerduty",
        "Provider/desired-namespace/nats-provider",
        "Provider/default/zulip",
        "Provider/default/otel",
        "Alert/default/otel-traces",
        "Provider/default/zoom",
        "Provider/default/incident-io",
    }
    # The docs' `token: <GCP JSON credentials>` placeholder is not JSON: Flux's Pub/Sub client
    # refuses it when the notifier is created, and so does fluxnotify (without echoing it).
    status, message = found["Provider/desired-namespace/googlepubsub-provider"]
    assert status == "False"
    assert message.startswith("invalid GCP JSON credentials in the Secret key 'token': not JSON")


def test_googlepubsub_docs_example_with_a_real_key_is_ready():
    key = json.dumps({"type": "service_account", "client_email": "f@p.iam.gserviceaccount.com",
                      "private_key": "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n"})
    text = DOCS.read_text().replace("token: <GCP JSON credentials>", f"token: '{key}'")
    assert verdicts(text)["Provider/desired-namespace/googlepubsub-provider"] == ("True", "Initialized")


def provider(type_name: str, spec: dict, secret: dict | None = None) -> str:
    body = {"type": type_name, **spec}
    if secret is not None:
        body["secretRef"] = {"name": "s"}
    text = json.dumps({"apiVersion": V, "kind": "Provider", "metadata": {"name": "p", "namespace": "ns"},
                       "spec": body}) + "\n---\n"
    if secret is not None:
        text += json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "ns"},
                            "stringData": secret}) + "\n"
    return text


@pytest.mark.parametrize(
    ("type_name", "spec", "secret", "message"),
    [
        ("grafana", {"address": "not a url"}, None, "invalid Grafana URL not a url"),
        ("pagerduty", {"address": "invalid-url"}, None,
         "invalid PagerDuty endpoint URL \"invalid-url\": 'parse \"invalid-url\": invalid URI for request'"),
        ("datadog", {"address": "https://api.datadoghq.com"}, None, "token cannot be empty"),
        ("datadog", {"address": "https://bad url :)"}, {"token": "k"},
         'failed to parse address "https://bad url :)": parse "https://bad url :)": invalid port ":)" after host'),
        ("nats", {"channel": "s"}, None, "NATS server (address) cannot be empty"),
        ("nats", {"address": "nats://n:4222"}, None, "NATS subject (channel) cannot be empty"),
        ("zulip", {"address": "https://z.example.com", "channel": "general"}, None,
         "invalid Zulip channel format, expected <channel>/<topic>, got 'general'"),
        ("zoom", {"address": "foo/bar"}, {"token": "t"},
         "invalid Zoom incoming webhook URL foo/bar: 'parse \"foo/bar\": invalid URI for request'"),
        ("zoom", {"address": "https://zoom.us/hook"}, None, "empty Zoom verification token"),
        ("incident.io", {"address": "not a url"}, {"token": "t"},
         "invalid incident.io alert source URL not a url: 'parse \"not a url\": invalid URI for request'"),
        ("incident.io", {"address": "https://api.incident.io/v2/alert_events/http/x"}, None,
         "empty incident.io API token"),
        ("googlepubsub", {"channel": "t"}, None, "GCP project ID cannot be empty"),
        ("googlepubsub", {"address": "p"}, None, "GCP Pub/Sub topic ID cannot be empty"),
    ],
)
def test_spec_config_errors(type_name, spec, secret, message):
    assert verdicts(provider(type_name, spec, secret))["Provider/ns/p"] == ("False", message)


def test_otel_with_only_an_address_is_ready():
    assert verdicts(provider("otel", {"address": "http://tempo:4318"}))["Provider/ns/p"] == ("True", "Initialized")
