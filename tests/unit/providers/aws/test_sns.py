"""sns: options, the JSON and Chatbot messages, FIFO ids, and delivery to a topic on moto with an
SQS subscriber (raw delivery off and on); error classes. Through the dispatcher and `serve`:
tests/integration/test_aws_targets.py."""

from __future__ import annotations

import json

import boto3
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
from fluxnotify.providers.aws import sns
from fluxnotify.transport.http import DeliveryError

ARN = "arn:aws:sns:eu-west-1:123456789012:flux-events"


def cfg(**values):
    values.setdefault("channel", ARN)
    return config("sns", **values)


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"channel": ""}, "invalid SNS topic ARN (channel) ''"),
        ({"channel": "flux-events"}, "invalid SNS topic ARN (channel) 'flux-events'"),
        ({"channel": "arn:aws:sqs:eu-west-1:123456789012:q"}, "invalid SNS topic ARN"),
        ({"channel": "arn:aws:sns:eu-west-1:1234:t"}, "invalid SNS topic ARN"),
        ({"channel": "arn:aws:sns:eu-west-1:123456789012:bad name"}, "invalid SNS topic ARN"),
        ({"format": "slack"}, "fluxnotify.io/format: 'slack' is not supported by sns (expected 'chatbot')"),
        ({"secret": {"aws_access_key_id": "AKIAEXAMPLE"}}, "invalid AWS credentials in secret: set both"),
    ],
)
def test_config_errors(values, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(cfg(**values))
    assert str(caught.value).startswith(error)


@pytest.mark.parametrize("arn", [ARN, "arn:aws-us-gov:sns:us-gov-west-1:123456789012:t.fifo",
                                 "arn:aws-cn:sns:cn-north-1:123456789012:a_b-c"])
def test_partitions_and_regions_from_the_arn(arn):
    providers.validate(cfg(channel=arn))
    (delivery,) = providers.encode(event(), cfg(channel=arn))
    assert delivery.region == arn.split(":")[3]


def test_json_message_is_the_generic_body_plus_cluster_with_filter_attributes():
    sent = event("error", "health check failed", {"revision": "main@sha1:abc", "cluster": "prod-eu"})
    (delivery,) = providers.encode(sent, cfg())
    body = json.loads(delivery.message)
    assert body == {**json.loads(sent.go_json()), "cluster": "prod-eu"}
    assert list(body)[:5] == ["involvedObject", "severity", "timestamp", "message", "reason"]
    assert delivery.attributes == {"severity": "error", "kind": "GitRepository", "namespace": "gitops-system",
                                   "name": "webapp", "reason": "reason", "cluster": "prod-eu"}
    assert delivery.subject == "[error] GitRepository gitops-system/webapp: reason"
    assert delivery.group_id is None and "MessageGroupId" not in delivery.publish_arguments()
    # No cluster name: "" in the body, no attribute (SNS refuses empty attribute values).
    (delivery,) = providers.encode(event(), cfg())
    assert json.loads(delivery.message)["cluster"] == "" and "cluster" not in delivery.attributes


def test_chatbot_custom_notification():
    sent = event("error", "kustomize build failed:\n`spec.x` is invalid", {"revision": "main@sha1:abc",
                                                                          "cluster": "prod-eu"},
                 reason="BuildFailed")
    (delivery,) = providers.encode(sent, cfg(format="chatbot"))
    body = json.loads(delivery.message)
    assert body == {
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": "[error] GitRepository gitops-system/webapp: BuildFailed",
            "description": "kustomize build failed:\n`spec.x` is invalid",
            "keywords": ["error", "GitRepository", "BuildFailed", "prod-eu"],
        },
        "metadata": {
            "threadId": "GitRepository/gitops-system/webapp",
            "summary": "[error] GitRepository gitops-system/webapp: BuildFailed",
            "eventType": "GitRepository BuildFailed",
            "relatedResources": ["GitRepository/gitops-system/webapp"],
            "additionalContext": {"cluster": "prod-eu", "revision": "main@sha1:abc"},
        },
    }
    assert delivery.attributes["severity"] == "error"  # filter policies work for Chatbot topics too


def test_chatbot_description_is_cut_and_never_empty():
    (delivery,) = providers.encode(event(message="x" * 9000), cfg(format="chatbot"))
    assert json.loads(delivery.message)["content"]["description"] == "x" * 8000 + "…"
    (delivery,) = providers.encode(event(message=""), cfg(format="chatbot"))
    assert json.loads(delivery.message)["content"]["description"] == "reason"


def test_fifo_topic_groups_by_object_and_dedups_by_message():
    fifo = "arn:aws:sns:eu-west-1:123456789012:flux.fifo"
    (first,) = providers.encode(event(message="one"), cfg(channel=fifo))
    (again,) = providers.encode(event(message="one"), cfg(channel=fifo))
    (other,) = providers.encode(event(message="two"), cfg(channel=fifo))
    assert first.group_id == "GitRepository/gitops-system/webapp" == other.group_id
    assert first.dedup_id == again.dedup_id != other.dedup_id and len(first.dedup_id) == 64
    assert sns.group_id(event(involved_object=event().involved_object.__class__(
        kind="K", namespace="n", name="a b"))) == "K/n/a_b"


def test_subject_is_ascii_without_control_characters():
    (delivery,) = providers.encode(event(reason="Bad\nReasön"), cfg())
    assert delivery.subject == "[info] GitRepository gitops-system/webapp: Bad Reas?n"


def test_render_shows_topic_message_and_attributes_but_no_keys():
    manifests = provider_yaml("sns", channel=ARN, secretRef={"name": "aws"}) + secret_yaml(
        "aws", aws_access_key_id="AKIAFLUXNOTIFYTEST", aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/secret")
    (result,) = render_yaml(manifests, raw_event("info", "hello", {"revision": "r1"}))
    (delivery,) = result["deliveries"]
    assert delivery["transport"] == "sns" and delivery["topic"] == ARN
    assert delivery["message"]["metadata"] == {"revision": "r1"} and delivery["message"]["cluster"] == ""
    assert delivery["attributes"]["kind"] == "GitRepository"
    assert "AKIAFLUXNOTIFYTEST" not in json.dumps(result) and "wJalr" not in json.dumps(result)


# --- delivery on moto ----------------------------------------------------------------


def subscribed_queue(topic_arn: str, raw: bool) -> str:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    queue = sqs.create_queue(QueueName=f"sub-{'raw' if raw else 'env'}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name="eu-west-1").subscribe(
        TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true" if raw else "false"})
    return queue


def received(queue: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name="eu-west-1")
    return sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                               WaitTimeSeconds=0).get("Messages", [])


def test_publish_reaches_an_sqs_subscriber_with_attributes(moto):
    topic_arn = boto3.client("sns").create_topic(Name="flux-events")["TopicArn"]
    enveloped, raw = subscribed_queue(topic_arn, raw=False), subscribed_queue(topic_arn, raw=True)
    sent = event("error", "boom", {"cluster": "prod-eu"})
    providers.deliver(sent, cfg(channel=topic_arn), transport=None)
    (message,) = received(enveloped)
    envelope = json.loads(message["Body"])
    assert envelope["TopicArn"] == topic_arn
    assert envelope["Subject"] == "[error] GitRepository gitops-system/webapp: reason"
    assert json.loads(envelope["Message"]) == {**json.loads(sent.go_json()), "cluster": "prod-eu"}
    assert {k: v["Value"] for k, v in envelope["MessageAttributes"].items()} == {
        "severity": "error", "kind": "GitRepository", "namespace": "gitops-system", "name": "webapp",
        "reason": "reason", "cluster": "prod-eu"}
    (message,) = received(raw)
    assert json.loads(message["Body"])["message"] == "boom"
    assert message["MessageAttributes"]["severity"] == {"StringValue": "error", "DataType": "String"}


def test_filter_policy_on_severity_selects_what_arrives(moto):
    topic_arn = boto3.client("sns").create_topic(Name="flux-events")["TopicArn"]
    queue = subscribed_queue(topic_arn, raw=True)
    (subscription,) = boto3.client("sns").list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    boto3.client("sns").set_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"], AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"severity": ["error"]}))
    providers.deliver(event("info", "fine"), cfg(channel=topic_arn), transport=None)
    providers.deliver(event("error", "broken"), cfg(channel=topic_arn), transport=None)
    assert [json.loads(m["Body"])["message"] for m in received(queue)] == ["broken"]


def test_chatbot_body_arrives_as_published(moto):
    topic_arn = boto3.client("sns").create_topic(Name="chatbot")["TopicArn"]
    queue = subscribed_queue(topic_arn, raw=True)
    providers.deliver(event("error", "boom"), cfg(channel=topic_arn, format="chatbot"), transport=None)
    (message,) = received(queue)
    body = json.loads(message["Body"])
    assert (body["version"], body["source"], body["content"]["description"]) == ("1.0", "custom", "boom")


def test_fifo_topic_gets_group_and_dedup_ids(moto):
    topic_arn = boto3.client("sns").create_topic(
        Name="flux.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="sub.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                                  Attributes={"RawMessageDelivery": "true"})
    providers.deliver(event(message="one"), cfg(channel=topic_arn), transport=None)
    providers.deliver(event(message="one"), cfg(channel=topic_arn), transport=None)  # a retry: deduplicated
    providers.deliver(event(message="two"), cfg(channel=topic_arn), transport=None)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10,
                                   AttributeNames=["MessageGroupId"])["Messages"]
    assert [json.loads(m["Body"])["message"] for m in messages] == ["one", "two"]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {"GitRepository/gitops-system/webapp"}


def test_unknown_topic_is_permanent_and_names_the_topic_not_the_keys(moto):
    missing = "arn:aws:sns:eu-west-1:123456789012:nowhere"
    keys = {"aws_access_key_id": "AKIAFLUXNOTIFYTEST", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/secret"}
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(event(), cfg(channel=missing, secret=keys), transport=None)
    assert caught.value.retryable is False
    assert str(caught.value).startswith(f"failed to publish to SNS topic {missing}: NotFound")
    assert "AKIA" not in str(caught.value) and "wJalr" not in str(caught.value)
