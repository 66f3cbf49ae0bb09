"""eventbridge: options, the PutEvents entry, delivery to a bus on moto with a rule targeting
an SQS queue, and per-entry failures (throttled entries sent again, then retried through the
queue; other codes permanent). Through the dispatcher and `serve`: tests/integration/test_aws_targets.py."""

from __future__ import annotations

import json

import boto3
import pytest
from fixtures.incident.incident_helpers import config, event, provider_yaml, raw_event, render_yaml

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.providers.aws import eventbridge, shared
from fluxnotify.transport.http import DeliveryError

BUS_ARN = "arn:aws:events:eu-west-1:123456789012:event-bus/flux"


def cfg(**values):
    values.setdefault("channel", "flux")
    return config("eventbridge", **values)


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"channel": ""}, "invalid event bus (channel) ''"),
        ({"channel": "has space"}, "invalid event bus (channel) 'has space'"),
        ({"channel": "arn:aws:events:eu-west-1:123456789012:rule/x"}, "invalid event bus ARN (channel)"),
        ({"channel": "arn:aws:sns:eu-west-1:123456789012:event-bus/x"}, "invalid event bus ARN (channel)"),
        ({"format": "chatbot"}, "fluxnotify.io/format: 'chatbot' is not supported by eventbridge"),
        ({"secret": {"aws_secret_access_key": "x"}}, "invalid AWS credentials in secret"),
    ],
)
def test_config_errors(values, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(**values))
    assert str(caught.value).startswith(error)


def test_entry():
    sent = event("info", "applied", {"revision": "main@sha1:abc", "cluster": "prod-eu"},
                 reason="ReconciliationSucceeded")
    (delivery,) = providers.encode(sent, cfg(channel=BUS_ARN))
    assert delivery.region == "eu-west-1"
    (entry,) = delivery.entries
    assert entry == {"Source": "fluxnotify", "DetailType": "GitRepository ReconciliationSucceeded",
                     "Detail": entry["Detail"], "Resources": [], "EventBusName": BUS_ARN}
    assert json.loads(entry["Detail"]) == {**json.loads(sent.go_json()), "cluster": "prod-eu"}
    (delivery,) = providers.encode(sent, cfg(channel="default"))
    assert delivery.region == "" and delivery.entries[0]["EventBusName"] == "default"


def test_render_shows_the_entries():
    (result,) = render_yaml(provider_yaml("eventbridge", channel="flux"), raw_event("info", "hello", {"revision": "r"}))
    (delivery,) = result["deliveries"]
    assert delivery["transport"] == "eventbridge"
    (entry,) = delivery["entries"]
    assert entry["Source"] == "fluxnotify" and entry["DetailType"] == "GitRepository reason"
    assert entry["Detail"]["metadata"] == {"revision": "r"} and entry["EventBusName"] == "flux"


# --- delivery on moto ----------------------------------------------------------------


def bus_to_queue(name: str = "flux") -> tuple[str, str]:
    """A bus, a rule on it matching source fluxnotify, an SQS queue as its target."""
    events, sqs = boto3.client("events"), boto3.client("sqs")
    bus_arn = events.create_event_bus(Name=name)["EventBusArn"] if name != "default" else None
    queue = sqs.create_queue(QueueName=f"{name}-target")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="flux", EventBusName=name, EventPattern=json.dumps({"source": ["fluxnotify"]}))
    events.put_targets(Rule="flux", EventBusName=name, Targets=[{"Id": "q", "Arn": queue_arn}])
    return bus_arn or name, queue


def arrived(queue: str) -> list[dict]:
    messages = boto3.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


@pytest.mark.parametrize("by", ["name", "arn"])
def test_put_events_reaches_a_rule_target(moto, by):
    bus_arn, queue = bus_to_queue()
    sent = event("error", "health check failed", {"cluster": "prod-eu"}, reason="HealthCheckFailed")
    providers.deliver(sent, cfg(channel="flux" if by == "name" else bus_arn), transport=None)
    (received,) = arrived(queue)
    assert received["source"] == "fluxnotify"
    assert received["detail-type"] == "GitRepository HealthCheckFailed"
    assert received["resources"] == []
    assert received["detail"] == {**json.loads(sent.go_json()), "cluster": "prod-eu"}


def test_unknown_bus_is_permanent(moto):
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(channel="nowhere"), transport=None)
    assert caught.value.retryable is False
    assert str(caught.value).startswith("failed to put events on event bus nowhere: ")


class FailingFirst:
    """PutEvents that fails the given error codes once per code, then passes to moto."""

    def __init__(self, real, codes):
        self.real, self.codes, self.calls = real, list(codes), []

    def put_events(self, Entries):  # noqa: N803 - boto3's parameter name
        self.calls.append(Entries)
        if self.codes:
            code = self.codes.pop(0)
            return {"FailedEntryCount": 1, "Entries": [{"ErrorCode": code, "ErrorMessage": f"{code} text"}]}
        return self.real.put_events(Entries=Entries)


@pytest.fixture
def failing(moto, monkeypatch):
    monkeypatch.setattr(eventbridge, "ENTRY_RETRY_DELAYS", (0.0, 0.0))

    def install(codes):
        real = boto3.client("events")
        fake = FailingFirst(real, codes)
        monkeypatch.setattr(eventbridge, "client", lambda service, region, cfg: fake)
        return fake

    return install


def test_throttled_entry_is_sent_again_within_the_delivery(failing):
    _, queue = bus_to_queue()
    fake = failing(["ThrottlingException"])
    providers.deliver(event(message="once"), cfg(), transport=None)
    assert len(fake.calls) == 2 and fake.calls[0] == fake.calls[1]
    assert [m["detail"]["message"] for m in arrived(queue)] == ["once"]


def test_entry_throttled_on_every_try_is_retryable(failing):
    _, queue = bus_to_queue()
    fake = failing(["ThrottlingException", "InternalFailure", "ThrottlingException"])
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(), transport=None)
    assert caught.value.retryable is True and len(fake.calls) == 3
    assert str(caught.value) == "failed to put events on event bus flux: 1 of 1 entries failed: ThrottlingException: ThrottlingException text"
    assert arrived(queue) == []


def test_entry_refused_is_permanent_at_once(failing):
    bus_to_queue()
    fake = failing(["AccessDeniedException"])
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(), transport=None)
    assert caught.value.retryable is False and len(fake.calls) == 1


def test_only_failed_entries_are_sent_again(moto, monkeypatch):
    monkeypatch.setattr(eventbridge, "ENTRY_RETRY_DELAYS", (0.0,))
    calls = []

    class Partial:
        def put_events(self, Entries):  # noqa: N803
            calls.append([e["DetailType"] for e in Entries])
            if len(calls) == 1:
                return {"FailedEntryCount": 1, "Entries": [{"EventId": "1"}, {"ErrorCode": "ThrottlingException"}]}
            return {"FailedEntryCount": 0, "Entries": [{"EventId": "2"}]}

    first, second = dict(eventbridge.encode(event(reason="A"), cfg())[0].entries[0]), None
    second = {**first, "DetailType": "GitRepository B"}
    monkeypatch.setattr(eventbridge, "client", lambda *args: Partial())
    monkeypatch.setattr(eventbridge, "encode", lambda e, c: [eventbridge.EventBridgeDelivery("flux", "", (first, second))])
    providers.deliver(event(), cfg(), transport=None)
    assert calls == [["GitRepository A", "GitRepository B"], ["GitRepository B"]]
    assert shared.RETRYABLE_CODES >= {"ThrottlingException", "InternalFailure"}
