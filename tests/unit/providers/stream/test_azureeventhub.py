"""azureeventhub (spec §5.14): SAS and JWT options, render, and delivery at the SDK boundary.

No Event Hubs endpoint runs here: the SDK is replaced through ``azureeventhub._sdk`` by a
fake that records how the producer was built and what it sent. One test drives the real
SDK against a closed port on 127.0.0.1 to check the error mapping end to end.
"""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

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
from fluxnotify.providers.stream import azureeventhub
from fluxnotify.transport.http import DeliveryError
from helpers import dispatch

KEY = "c2VjcmV0LWtleS12YWx1ZQ=="
CONN = (
    "Endpoint=sb://fluxns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
    f"SharedAccessKey={KEY};EntityPath=flux-events"
)
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmbHV4In0.c2lnbmF0dXJl"


def cfg(**values):
    return config("azureeventhub", **values)


# --- a fake azure.eventhub -------------------------------------------------------------


class EventHubError(Exception):
    pass


class ConnectError(EventHubError):
    pass


class AuthenticationError(ConnectError):
    pass


class OperationTimeoutError(EventHubError):
    pass


class EventData:
    def __init__(self, body):
        self.body = body


class Batch:
    def __init__(self, fail_add: Exception | None = None):
        self.events: list[EventData] = []
        self.fail_add = fail_add

    def add(self, data):
        if self.fail_add:
            raise self.fail_add
        self.events.append(data)


class Producer:
    """Records construction arguments and calls; `fail` maps a step to an exception."""

    instances: list[Producer] = []
    fail: dict[str, Exception] = {}

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.connection_string: str | None = None
        self.sent: list[tuple[Batch, float | None]] = []
        self.closed = False
        Producer.instances.append(self)

    @classmethod
    def from_connection_string(cls, conn_str, **kwargs):
        producer = cls(**kwargs)
        producer.connection_string = conn_str
        return producer

    def create_batch(self):
        if "create" in self.fail:
            raise self.fail["create"]
        return Batch(self.fail.get("add"))

    def send_batch(self, batch, timeout=None):
        if "send" in self.fail:
            raise self.fail["send"]
        self.sent.append((batch, timeout))

    def close(self):
        self.closed = True


@pytest.fixture
def fake_sdk(monkeypatch):
    Producer.instances, Producer.fail = [], {}
    monkeypatch.setattr(
        azureeventhub, "_sdk", lambda: SimpleNamespace(EventHubProducerClient=Producer, EventData=EventData)
    )
    monkeypatch.setattr(azureeventhub, "PRODUCERS", azureeventhub._Producers())
    return Producer


def sent_bodies(producer: Producer) -> list[list[str]]:
    return [[data.body for data in batch.events] for batch, _ in producer.sent]


# --- options ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({}, "invalid authentication options: endpoint URL cannot be empty"),
        (
            {"address": CONN, "service_account_name": "flux"},
            "invalid authentication options: serviceAccountName and SAS authentication cannot be set at the same time",
        ),
        (
            {"address": CONN, "token": JWT},
            "invalid authentication options: jwt token and SAS authentication cannot be set at the same time",
        ),
        (
            {"address": "flux-events", "channel": "fluxns", "token": JWT, "service_account_name": "flux"},
            "invalid authentication options: serviceAccountName and jwt token authentication cannot be set at the same time",
        ),
        (
            {"address": CONN.replace(";EntityPath=flux-events", "")},
            "failed to create a eventhub using SAS: connection string does not contain an EntityPath. "
            "eventHub cannot be an empty string",
        ),
        (
            {"address": CONN.replace("EntityPath=flux-events", "EntityPath=")},
            "failed to create a eventhub using SAS: connection string does not contain an EntityPath. "
            "eventHub cannot be an empty string",
        ),
        (
            {"address": CONN.replace("Endpoint=sb://fluxns.servicebus.windows.net/;", "")},
            'failed to create a eventhub using SAS: key "Endpoint" must not be empty',
        ),
        (
            {"address": CONN.replace("SharedAccessKeyName=RootManageSharedAccessKey;", "")},
            'failed to create a eventhub using SAS: key "SharedAccessKeyName" must not be empty',
        ),
    ],
)  # fmt: skip
def test_spec_config_errors(values, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(**values))
    assert str(caught.value) == error
    assert KEY not in str(caught.value) and JWT not in str(caught.value)


def test_jwt_mode_without_token_explains_what_fluxnotify_needs():
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(address="flux-events", channel="fluxns"))
    text = str(caught.value)
    assert text.startswith(
        "invalid authentication options: no jwt token: fluxnotify has no workload identity"
    )
    assert "'token'" in text and "SAS connection string" in text


def test_jwt_mode_without_channel():
    with pytest.raises(ConfigError, match="^invalid authentication options: channel cannot be empty"):
        providers.validate(cfg(address="flux-events", token=JWT))


@pytest.mark.parametrize(
    ("channel", "authority", "namespace"),
    [
        ("fluxns", None, "fluxns.servicebus.windows.net"),
        ("fluxns", "https://login.microsoftonline.com/", "fluxns.servicebus.windows.net"),
        ("fluxns", "https://login.chinacloudapi.cn/", "fluxns.servicebus.chinacloudapi.cn"),
        ("fluxns", "https://login.microsoftonline.us/", "fluxns.servicebus.usgovcloudapi.net"),
        ("fluxns.servicebus.windows.net", "https://login.chinacloudapi.cn/", "fluxns.servicebus.windows.net"),
        ("fluxns.servicebus.cloudapi.de", None, "fluxns.servicebus.cloudapi.de"),
    ],
)
def test_jwt_namespace_suffix(monkeypatch, channel, authority, namespace):
    if authority is None:
        monkeypatch.delenv("AZURE_AUTHORITY_HOST", raising=False)
    else:
        monkeypatch.setenv("AZURE_AUTHORITY_HOST", authority)
    (delivery,) = providers.encode(event(), cfg(address="flux-events", channel=channel, token=JWT))
    assert delivery.render()["namespace"] == namespace


def test_sas_mode_is_any_address_containing_shared_access_key():
    # Even with a channel set, the connection string decides namespace and hub.
    (delivery,) = providers.encode(event(), cfg(address=CONN, channel="ignored"))
    assert delivery.render()["namespace"] == "fluxns.servicebus.windows.net"
    assert delivery.render()["eventhub"] == "flux-events"
    lower_keys = CONN.replace("Endpoint=", "endpoint=").replace("EntityPath=", "entitypath=")
    (delivery,) = providers.encode(event(), cfg(address=lower_keys))
    assert delivery.render()["eventhub"] == "flux-events"


# --- encode / render --------------------------------------------------------------------


def test_encode_info_event_without_metadata():
    evt = event("info", "reconciled")
    (delivery,) = providers.encode(evt, cfg(address=CONN))
    assert delivery.render() == {
        "transport": "eventhub",
        "namespace": "fluxns.servicebus.windows.net",
        "eventhub": "flux-events",
        "auth": "sas",
        "body": json.loads(evt.go_json()),
        "raw": (
            '{"involvedObject":{"kind":"GitRepository","namespace":"gitops-system","name":"webapp",'
            '"apiVersion":"source.toolkit.fluxcd.io/v1"},"severity":"info","timestamp":"2022-09-30T06:40:29Z",'
            '"message":"reconciled","reason":"reason","reportingController":"source-controller",'
            '"reportingInstance":"source-controller-xyz"}'
        ),
    }


def test_encode_error_event_with_metadata_is_go_json():
    evt = event("error", "a <b> & c", {"z": "1", "a": "2"})
    (delivery,) = providers.encode(evt, cfg(address="flux-events", channel="fluxns", token=JWT))
    rendered = delivery.render()
    assert rendered["auth"] == "jwt"
    assert rendered["raw"] == evt.go_json()
    assert '"message":"a \\u003cb\\u003e \\u0026 c"' in rendered["raw"]
    assert '"metadata":{"a":"2","z":"1"}' in rendered["raw"]
    assert JWT not in json.dumps(rendered) and JWT not in repr(delivery)


def test_render_sas_from_secret_address():
    manifests = (
        provider_yaml("azureeventhub", secretRef={"name": "eh"})
        + secret_yaml("eh", address=CONN)
        + alert_yaml("azureeventhub", summary="prod")
    )
    (result,) = render_yaml(manifests, raw_event("error", "boom", {"revision": "main@sha1:1"}))
    assert result["error"] is None
    (delivery,) = result["deliveries"]
    assert delivery["transport"] == "eventhub" and delivery["auth"] == "sas"
    assert delivery["namespace"] == "fluxns.servicebus.windows.net"
    assert delivery["eventhub"] == "flux-events"
    assert delivery["body"]["metadata"] == {"revision": "main@sha1:1", "summary": "prod"}
    assert delivery["raw"] == json.dumps(delivery["body"], separators=(",", ":"))
    assert KEY not in json.dumps(result)


def test_render_jwt_from_secret_token():
    manifests = provider_yaml(
        "azureeventhub", address="flux-events", channel="fluxns", secretRef={"name": "eh"}
    ) + secret_yaml("eh", token=JWT)
    (result,) = render_yaml(manifests, raw_event())
    (delivery,) = result["deliveries"]
    assert {k: delivery[k] for k in ("transport", "namespace", "eventhub", "auth")} == {
        "transport": "eventhub",
        "namespace": "fluxns.servicebus.windows.net",
        "eventhub": "flux-events",
        "auth": "jwt",
    }
    assert JWT not in json.dumps(result)


def test_render_reports_config_errors():
    (result,) = render_yaml(
        provider_yaml("azureeventhub", address="flux-events", channel="fluxns"), raw_event()
    )
    assert result["error"].startswith("invalid authentication options: no jwt token")
    assert result["deliveries"] == []


# --- delivery at the SDK boundary -------------------------------------------------------


def test_sas_delivery_sends_one_batch_with_the_go_json(fake_sdk):
    evt = event("error", "boom", {"revision": "main@sha1:1"})
    azureeventhub.deliver(evt, cfg(address=CONN, timeout=9.0), None)
    (producer,) = fake_sdk.instances
    assert producer.connection_string == CONN
    assert producer.kwargs == {"retry_total": 0}
    assert sent_bodies(producer) == [[evt.go_json()]]
    assert producer.sent[0][1] == 9.0


def test_jwt_delivery_uses_a_static_token_credential(fake_sdk):
    evt = event()
    providers.deliver(evt, cfg(address="flux-events", channel="fluxns", token=JWT), None)
    (producer,) = fake_sdk.instances
    assert producer.connection_string is None
    credential = producer.kwargs.pop("credential")
    assert producer.kwargs == {
        "fully_qualified_namespace": "fluxns.servicebus.windows.net",
        "eventhub_name": "flux-events",
        "retry_total": 0,
    }
    assert isinstance(credential, azureeventhub.StaticTokenCredential)
    assert JWT not in repr(credential)
    assert sent_bodies(producer) == [[evt.go_json()]]


def test_static_credential_is_an_azure_core_token_credential():
    pytest.importorskip("azure.eventhub", reason="azure-eventhub is not installed (extra 'eventhub')")
    from azure.core.credentials import AccessToken, TokenCredential

    credential = azureeventhub.StaticTokenCredential(JWT)
    assert isinstance(credential, TokenCredential)
    token = credential.get_token("https://eventhubs.azure.net/.default", tenant_id="t")
    assert isinstance(token, AccessToken)
    assert token.token == JWT and token.expires_on > 4_000_000_000


def test_producer_is_reused_per_namespace_hub_and_credential(fake_sdk):
    sas = cfg(address=CONN)
    azureeventhub.deliver(event(message="one"), sas, None)
    azureeventhub.deliver(event(message="two"), sas, None)
    assert len(fake_sdk.instances) == 1
    assert len(fake_sdk.instances[0].sent) == 2
    azureeventhub.deliver(event(), cfg(address=CONN.replace(KEY, "b3RoZXIta2V5")), None)
    azureeventhub.deliver(event(), cfg(address="flux-events", channel="fluxns", token=JWT), None)
    azureeventhub.deliver(event(), cfg(address="flux-events", channel="fluxns", token=JWT + "x"), None)
    assert len(fake_sdk.instances) == 4


@pytest.mark.parametrize(
    ("step", "error", "text", "retryable"),
    [
        ("create", ConnectError("no route"), "failed to create event data batch: ConnectError: no route", True),
        ("create", AuthenticationError("unauthorized"), "failed to create event data batch: AuthenticationError: unauthorized", False),
        ("add", ValueError("EventData exceeds the size limit"), "failed to add event data to batch: ValueError: EventData exceeds the size limit", False),
        ("send", OperationTimeoutError("timed out"), "failed to send msg: OperationTimeoutError: timed out", True),
        ("send", EventHubError("link detached"), "failed to send msg: EventHubError: link detached", True),
    ],
)  # fmt: skip
def test_sdk_errors_are_mapped(fake_sdk, step, error, text, retryable):
    fake_sdk.fail = {step: error}
    with pytest.raises(DeliveryError) as caught:
        azureeventhub.deliver(event(), cfg(address=CONN), None)
    assert str(caught.value) == text
    assert caught.value.retryable is retryable
    (producer,) = fake_sdk.instances
    # A producer whose connection failed is dropped: the next attempt reconnects.
    assert producer.closed is (step != "add")
    fake_sdk.fail = {}
    azureeventhub.deliver(event(), cfg(address=CONN), None)
    assert len(fake_sdk.instances) == (2 if step != "add" else 1)


def test_sdk_errors_never_show_the_key_or_token(fake_sdk):
    fake_sdk.fail = {"create": ConnectError(f"bad {CONN} and {KEY}")}
    with pytest.raises(DeliveryError) as caught:
        azureeventhub.deliver(event(), cfg(address=CONN), None)
    assert KEY not in str(caught.value)
    fake_sdk.fail = {"send": AuthenticationError(f"token {JWT} rejected")}
    with pytest.raises(DeliveryError) as caught:
        azureeventhub.deliver(event(), cfg(address="flux-events", channel="fluxns", token=JWT), None)
    assert JWT not in str(caught.value)
    assert str(caught.value) == "failed to send msg: AuthenticationError: token ***** rejected"


def test_real_sdk_connection_refused_is_retryable():
    """The real azure-eventhub SDK, pointed at a closed port on 127.0.0.1."""
    pytest.importorskip("azure.eventhub", reason="azure-eventhub is not installed (extra 'eventhub')")
    address = (
        "Endpoint=sb://127.0.0.1:1/;SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={KEY};EntityPath=flux-events"
    )
    azureeventhub.PRODUCERS.close_all()
    with pytest.raises(DeliveryError) as caught:
        azureeventhub.deliver(event(), cfg(address=address, timeout=5.0), None)
    assert str(caught.value).startswith("failed to create event data batch: ConnectError: ")
    assert caught.value.retryable is True
    assert KEY not in str(caught.value)


def test_sdk_is_not_imported_until_delivery():
    code = (
        "import sys\n"
        "from fluxnotify.providers.stream import azureeventhub\n"
        "from fluxnotify.model.event import Event\n"
        "from fluxnotify.config.options import ProviderConfig\n"
        "cfg = ProviderConfig(namespace='n', name='e', uid='u', type='azureeventhub', address='hub',"
        " channel='ns', token='t0k3n')\n"
        "azureeventhub.validate(cfg); azureeventhub.encode(Event(), cfg)[0].render()\n"
        "print(sorted(m for m in sys.modules if m.startswith('azure')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- delivery through the dispatcher ----------------------------------------------------


def eh_manifests(**secret: str) -> str:
    return (
        provider_yaml(
            "azureeventhub", name="eh", address="flux-events", channel="fluxns", secretRef={"name": "eh"}
        )
        + secret_yaml("eh", **secret)
        + alert_yaml("eh")
    )


def test_dispatch_delivers(fake_sdk):
    report = dispatch(eh_manifests(token=JWT), raw_event("info", "hello", {"revision": "main@sha1:1"}))
    assert report.delivered == ["gitops-system/eh"]
    (producer,) = fake_sdk.instances
    ((body,),) = sent_bodies(producer)
    assert json.loads(body)["metadata"] == {"revision": "main@sha1:1"}
    assert json.loads(body)["message"] == "hello"


def test_dispatch_retries_connection_errors(fake_sdk):
    fake_sdk.fail = {"create": ConnectError("refused")}
    report = dispatch(eh_manifests(token=JWT), raw_event())
    assert report.delivered == [] and report.dead_letters == []
    (retry,) = report.retries
    assert retry["targets"] == ["gitops-system/eh"]


def test_dispatch_dead_letters_auth_errors(fake_sdk):
    fake_sdk.fail = {"create": AuthenticationError(f"{JWT} expired")}
    report = dispatch(eh_manifests(token=JWT), raw_event())
    assert report.retries == []
    (letter,) = report.dead_letters
    assert letter["error"].startswith("failed to create event data batch: AuthenticationError")
    assert JWT not in json.dumps(letter)


def test_dispatch_dead_letters_missing_token(fake_sdk):
    report = dispatch(eh_manifests(other="x"), raw_event())
    (letter,) = report.dead_letters
    assert "no jwt token" in letter["error"]
    assert fake_sdk.instances == []


def test_missing_sdk_is_a_permanent_error(monkeypatch):
    def missing():
        raise ModuleNotFoundError("No module named 'azure'")

    monkeypatch.setattr(azureeventhub, "_sdk", missing)
    with pytest.raises(DeliveryError) as caught:
        azureeventhub.deliver(event(), cfg(address=CONN), None)
    assert caught.value.retryable is False
    assert str(caught.value).startswith("azure-eventhub is not installed")


def test_close_all_closes_every_producer(fake_sdk):
    azureeventhub.deliver(event(), cfg(address=CONN), None)
    azureeventhub.deliver(event(), cfg(address="flux-events", channel="fluxns", token=JWT), None)
    azureeventhub.PRODUCERS.close_all()
    assert [p.closed for p in fake_sdk.instances] == [True, True]
    azureeventhub.deliver(event(), cfg(address=CONN), None)
    assert len(fake_sdk.instances) == 3
