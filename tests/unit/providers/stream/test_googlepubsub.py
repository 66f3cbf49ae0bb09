"""googlepubsub (spec §5.27): options, JSON-key credentials → signed JWT → access token → publish.

The token endpoint and the Pub/Sub API are capture servers on 127.0.0.1: the token
server checks the JWT's RS256 signature with the key's public half. The emulator test is
tests/integration/test_googlepubsub_emulator.py.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import urllib.parse

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
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
from fluxnotify.providers.stream import googlepubsub
from fluxnotify.transport.http import DeliveryError, Transport
from helpers import dispatch
from httpsink import HttpSink

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
EMAIL = "flux-publisher@flux-project.iam.gserviceaccount.com"


def key_json(token_uri: str = "https://oauth2.googleapis.com/token", **extra) -> str:
    data = {"type": "service_account", "project_id": "flux-project", "private_key_id": "k1", "private_key": PEM,
            "client_email": EMAIL, "token_uri": token_uri, **extra}
    return json.dumps(data)


def cfg(**values):
    values.setdefault("address", "flux-project")
    values.setdefault("channel", "flux-events")
    values.setdefault("token", key_json())
    return config("googlepubsub", **values)


@pytest.fixture(autouse=True)
def no_emulator(monkeypatch):
    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    googlepubsub.TOKENS.clear()


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"address": ""}, "GCP project ID cannot be empty"),
        ({"channel": ""}, "GCP Pub/Sub topic ID cannot be empty"),
        ({"token": ""}, "no GCP credentials: fluxnotify has no workload identity"),
        ({"token": "<GCP JSON credentials>"}, "invalid GCP JSON credentials in the Secret key 'token': not JSON"),
        ({"token": '{"type": "authorized_user"}'}, "invalid GCP JSON credentials in the Secret key 'token': expected"),
        ({"token": '{"type": "service_account", "private_key": "x"}'}, "invalid GCP JSON credentials in the Secret key 'token': missing client_email"),
    ],
)
def test_config_errors(values, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(**values))
    assert str(caught.value).startswith(error)
    assert "PRIVATE KEY" not in str(caught.value)


def test_emulator_needs_no_credentials(monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:8085")
    (delivery,) = providers.encode(event(), cfg(token=""))
    assert delivery.url == "http://127.0.0.1:8085/v1/projects/flux-project/topics/flux-events:publish"
    assert delivery.render()["auth"] == "none (emulator)"


def test_render_of_the_flux_docs_example_shape():
    manifests = provider_yaml("googlepubsub", name="googlepubsub-provider", address="flux-project", channel="flux-events",
                              secretRef={"name": "creds"}) + secret_yaml(
        "creds", token=key_json(), headers="attr1-name: attr1-value\nattr2-name: attr2-value\n")
    (result,) = render_yaml(manifests, raw_event("info", "hello", {"revision": "r1"}))
    (delivery,) = result["deliveries"]
    assert delivery["transport"] == "googlepubsub"
    assert delivery["topic"] == "projects/flux-project/topics/flux-events"
    assert delivery["url"] == "https://pubsub.googleapis.com/v1/projects/flux-project/topics/flux-events:publish"
    assert delivery["auth"] == f"service account {EMAIL}"
    assert delivery["attributes"] == {"attr1-name": "attr1-value", "attr2-name": "attr2-value"}
    assert delivery["body"]["metadata"] == {"revision": "r1"}
    assert "PRIVATE KEY" not in json.dumps(result)


def verify_jwt(assertion: str) -> dict:
    header, claims, signature = assertion.split(".")
    pad = lambda part: part + "=" * (-len(part) % 4)  # noqa: E731
    KEY.public_key().verify(base64.urlsafe_b64decode(pad(signature)), f"{header}.{claims}".encode(),
                            padding.PKCS1v15(), hashes.SHA256())
    assert json.loads(base64.urlsafe_b64decode(pad(header))) == {"alg": "RS256", "typ": "JWT", "kid": "k1"}
    return json.loads(base64.urlsafe_b64decode(pad(claims)))


@pytest.fixture
def google(monkeypatch):
    """A token endpoint and a Pub/Sub API on 127.0.0.1."""
    with HttpSink() as oauth, HttpSink() as api:
        oauth.default = (200, {"Content-Type": "application/json"},
                         b'{"access_token": "ya29.access-token", "expires_in": 3599, "token_type": "Bearer"}')
        api.default = (200, {"Content-Type": "application/json"}, b'{"messageIds": ["42"]}')
        monkeypatch.setattr(googlepubsub, "PUBSUB_API", api.url)
        yield oauth, api


def test_token_exchange_and_publish(google):
    oauth, api = google
    c = cfg(token=key_json(oauth.url + "/token"), headers={"env": "prod"})
    evt = event("error", "boom", {"revision": "r1"})
    providers.deliver(evt, c, Transport())
    providers.deliver(evt, c, Transport())  # the token is kept
    (token_request,) = oauth.wait_for(1)
    assert (token_request.method, token_request.path) == ("POST", "/token")
    assert token_request.header("Content-Type") == "application/x-www-form-urlencoded"
    form = urllib.parse.parse_qs(token_request.body.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = verify_jwt(form["assertion"][0])
    assert claims["iss"] == EMAIL and claims["aud"] == oauth.url + "/token"
    assert claims["scope"] == "https://www.googleapis.com/auth/pubsub"
    assert claims["exp"] - claims["iat"] == 3600
    first, second = api.wait_for(2)
    assert first.path == "/v1/projects/flux-project/topics/flux-events:publish"
    assert first.header("Authorization") == "Bearer ya29.access-token"
    (message,) = first.json()["messages"]
    assert base64.b64decode(message["data"]).decode() == evt.go_json()
    assert message["attributes"] == {"env": "prod"}
    assert "attributes" not in json.loads(googlepubsub.encode(evt, cfg())[0].publish_body())["messages"][0]


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (503, True)])
def test_token_failure(google, status, retryable):
    oauth, api = google
    oauth.respond(status, '{"error": "invalid_grant"}')
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(token=key_json(oauth.url + "/token")), Transport())
    text = str(caught.value)
    assert text.startswith("error publishing to GCP Pub/Sub topic projects/flux-project/topics/flux-events: "
                           "failed to get an access token: ")
    assert caught.value.retryable is retryable
    assert "PRIVATE KEY" not in text and api.requests == []


@pytest.mark.parametrize(("status", "retryable"), [(404, False), (403, False), (500, True), (429, True)])
def test_publish_failure(google, status, retryable):
    oauth, api = google
    api.respond(status, '{"error": {"status": "NOT_FOUND"}}')
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(token=key_json(oauth.url + "/token")), Transport())
    assert str(caught.value).startswith("error publishing to GCP Pub/Sub topic projects/flux-project/topics/flux-events: ")
    assert caught.value.retryable is retryable
    assert "ya29.access-token" not in str(caught.value)


def test_answer_without_message_id_is_an_error(google):
    oauth, api = google
    api.respond(200, "{}")
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(token=key_json(oauth.url + "/token")), Transport())
    assert str(caught.value).endswith("the answer carries no message id")


def test_pkcs1_key_is_accepted_and_a_broken_key_is_not_echoed(google):
    oauth, _ = google
    pkcs1 = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode()
    providers.deliver(event(), cfg(token=key_json(oauth.url + "/token", private_key=pkcs1)), Transport())
    verify_jwt(urllib.parse.parse_qs(oauth.wait_for(1)[0].body.decode())["assertion"][0])
    broken = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1ub3QtYS1rZXk=\n-----END PRIVATE KEY-----\n"
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(token=key_json(oauth.url + "/t", private_key=broken)), Transport())
    assert "not a valid RSA key" in str(caught.value) and "c2VjcmV0" not in str(caught.value)
    assert caught.value.retryable is False


def test_signing_library_is_not_imported_until_delivery():
    code = (
        "import sys\n"
        "from fluxnotify import providers\n"
        "from fluxnotify.model.event import Event\n"
        "from fluxnotify.config.options import ProviderConfig\n"
        f"cfg = ProviderConfig(namespace='n', name='e', uid='u', type='googlepubsub', address='p1x', channel='t1x', token={key_json()!r})\n"
        "providers.validate(cfg); providers.encode(Event(), cfg)[0].render()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rsa', 'pyasn1', 'nats', 'opentelemetry')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_dead_letter_of_a_refused_token_keeps_the_key_out(google):
    oauth, api = google
    oauth.respond(400, '{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}')
    manifests = (
        provider_yaml("googlepubsub", name="ps", address="flux-project", channel="flux-events", secretRef={"name": "ps"})
        + secret_yaml("ps", token=key_json(oauth.url + "/token"))
        + alert_yaml("ps")
    )
    report = dispatch(manifests, raw_event("error", "boom"))
    (dead,) = report.dead_letters
    assert "failed to get an access token" in json.dumps(dead)
    assert "PRIVATE KEY" not in json.dumps(dead) and EMAIL not in json.dumps(dead)
    assert api.requests == []
