"""nats (spec §5.30): options, auth priority, the render form; lazy import of nats-py.

Delivery against a real server: tests/integration/test_nats_real.py.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from fixtures.incident.incident_helpers import (
    config,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
    secret_yaml,
)

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.providers.stream import nats


def cfg(**values):
    values.setdefault("address", "nats://nats.example.com:4222")
    values.setdefault("channel", "flux.events")
    return config("nats", **values)


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"address": ""}, "NATS server (address) cannot be empty"),
        ({"channel": ""}, "NATS subject (channel) cannot be empty"),
    ],
)
def test_config_errors(values, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(**values))
    assert str(caught.value) == error


@pytest.mark.parametrize(
    ("values", "auth"),
    [
        ({"secret": {"creds": "JWT+SEED", "nkey": "SU..."}, "username": "u", "password": "p"}, "creds"),
        ({"secret": {"nkey": "SUAM..."}, "username": "u", "password": "p"}, "nkey"),
        ({"username": "u", "password": "p"}, "userpass"),
        ({"username": "u"}, "none"),
        ({}, "none"),
    ],
)
def test_auth_priority(values, auth):
    (delivery,) = providers.encode(event(), cfg(**values))
    assert delivery.auth == auth


def test_connect_options():
    (delivery,) = providers.encode(event(), cfg(username="u", password="p"))
    options = nats._connect_options(delivery, 5.0)
    assert options["name"] == "NATS Provider Publisher"
    assert (options["user"], options["password"]) == ("u", "p")
    assert options["allow_reconnect"] is False and options["servers"] == ["nats://nats.example.com:4222"]
    (delivery,) = providers.encode(event(), cfg(secret={"nkey": "SUAMSEED"}))
    assert nats._connect_options(delivery, 5.0)["nkeys_seed_str"] == "SUAMSEED"
    (delivery,) = providers.encode(event(), cfg(address="nats://a:4222, nats://b:4222"))
    assert nats._connect_options(delivery, 5.0)["servers"] == ["nats://a:4222", "nats://b:4222"]


def test_render_shows_subject_and_body_but_no_credentials():
    manifests = provider_yaml("nats", address="nats://nats:4222", channel="flux", secretRef={"name": "n"}) + secret_yaml(
        "n", username="flux", password="very-secret-pass"
    )
    (result,) = render_yaml(manifests, raw_event("info", "hello", {"revision": "r1"}))
    (delivery,) = result["deliveries"]
    assert delivery["transport"] == "nats"
    assert (delivery["server"], delivery["subject"], delivery["auth"]) == ("nats://nats:4222", "flux", "userpass")
    assert delivery["body"]["metadata"] == {"revision": "r1"}
    assert "very-secret-pass" not in str(result)


def test_client_is_not_imported_until_delivery():
    code = (
        "import sys\n"
        "from fluxnotify import providers\n"
        "from fluxnotify.model.event import Event\n"
        "from fluxnotify.config.options import ProviderConfig\n"
        "cfg = ProviderConfig(namespace='n', name='e', uid='u', type='nats', address='nats://h:4222', channel='s')\n"
        "providers.validate(cfg); providers.encode(Event(), cfg)[0].render()\n"
        "print(sorted(m for m in sys.modules if m == 'nats' or m.startswith('nats.')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
