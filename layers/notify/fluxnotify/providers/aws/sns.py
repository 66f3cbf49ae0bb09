"""`sns` (fluxnotify's own type): the event published to an Amazon SNS topic.

`channel` is the topic ARN; the client's region is the ARN's. The message is the event as
the `generic` provider posts it, plus `cluster`, with String message attributes (severity,
kind, namespace, name, reason, cluster) for subscription filter policies. With the Provider
annotation `fluxnotify.io/format: chatbot` the message is an AWS Chatbot custom notification
instead, so Chatbot posts it formatted to Slack, Microsoft Teams or Chime. FIFO topics
(`.fifo`) get the object (kind/namespace/name) as message group and a hash of the message as
deduplication id. See docs/providers/sns.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from fluxnotify.config.options import FORMAT_ANNOTATION, ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.aws.shared import (
    check_credentials,
    client,
    cluster_of,
    event_json,
    failure,
    parse_arn,
)
from fluxnotify.transport.http import Transport

CHATBOT = "chatbot"
_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$|^[A-Za-z0-9_-]{1,251}\.fifo$")
_GROUP_ID_CHARS = re.compile(r"[^A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_DESCRIPTION_LIMIT = 8000  # characters of the event message shown by Chatbot; more is cut
_SUBJECT_LIMIT = 99  # SNS: "less than 100 characters"


@dataclass(frozen=True)
class SnsDelivery:
    """One Publish call; what `fluxnotify render` shows (no credentials in it)."""

    topic: str
    region: str
    message: str
    subject: str
    attributes: dict[str, str]
    group_id: str | None = None
    dedup_id: str | None = None

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "transport": "sns",
            "topic": self.topic,
            "subject": self.subject,
            "message": json.loads(self.message),
            "attributes": self.attributes,
            "raw": self.message,
        }
        if self.group_id is not None:
            rendered["messageGroupId"] = self.group_id
            rendered["messageDeduplicationId"] = self.dedup_id
        return rendered

    def publish_arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "TopicArn": self.topic,
            "Message": self.message,
            "MessageAttributes": {
                name: {"DataType": "String", "StringValue": value} for name, value in self.attributes.items()
            },
        }
        if self.subject:
            arguments["Subject"] = self.subject
        if self.group_id is not None:
            arguments["MessageGroupId"] = self.group_id
            arguments["MessageDeduplicationId"] = self.dedup_id
        return arguments


def topic(cfg: ProviderConfig) -> tuple[str, str]:
    """(topic ARN, region) from the channel; ConfigError naming the field otherwise."""
    arn = cfg.channel.strip()
    parsed = parse_arn(arn, "sns")
    if parsed is None or not _TOPIC_NAME.match(parsed[3]):
        raise ConfigError(
            f"invalid SNS topic ARN (channel) {arn!r}: expected arn:aws:sns:<region>:<account-id>:<topic-name>"
        )
    return arn, parsed[1]


def validate(cfg: ProviderConfig) -> None:
    topic(cfg)
    if cfg.format not in ("", CHATBOT):
        raise ConfigError(f"{FORMAT_ANNOTATION}: {cfg.format!r} is not supported by sns (expected '{CHATBOT}')")
    check_credentials(cfg)


def attributes(event: Event) -> dict[str, str]:
    """Filter-policy attributes; empty values are left out (SNS refuses them)."""
    ref = event.involved_object
    values = {"severity": event.severity, "kind": ref.kind, "namespace": ref.namespace, "name": ref.name,
              "reason": event.reason, "cluster": cluster_of(event)}
    return {name: value for name, value in values.items() if value}


def title(event: Event) -> str:
    ref = event.involved_object
    return f"[{event.severity or 'info'}] {ref.kind} {ref.namespace}/{ref.name}: {event.reason}"


def chatbot_message(event: Event) -> str:
    """AWS Chatbot's custom-notification schema (version 1.0, source custom)."""
    ref = event.involved_object
    cluster = cluster_of(event)
    context = {key: value for key, value in gojson.go_sorted(event.metadata).items() if key != "cluster"}
    if cluster:
        context = {"cluster": cluster, **context}
    description = event.message if len(event.message) <= _DESCRIPTION_LIMIT else event.message[:_DESCRIPTION_LIMIT] + "…"
    keywords = [word for word in (event.severity, ref.kind, event.reason, cluster) if word]
    return gojson.dumps({
        "version": "1.0",
        "source": "custom",
        "content": {
            "textType": "client-markdown",
            "title": title(event),
            "description": description or event.reason,
            "keywords": keywords,
        },
        "metadata": {
            "threadId": f"{ref.kind}/{ref.namespace}/{ref.name}",
            "summary": title(event),
            "eventType": f"{ref.kind} {event.reason}",
            "relatedResources": [f"{ref.kind}/{ref.namespace}/{ref.name}"],
            "additionalContext": context,
        },
    }, escape_html=False)  # fmt: skip


def group_id(event: Event) -> str:
    """The object, as SNS allows a message group id (punctuation and alphanumerics, ≤ 128)."""
    ref = event.involved_object
    text = _GROUP_ID_CHARS.sub("_", f"{ref.kind}/{ref.namespace}/{ref.name}")
    return text if len(text) <= 128 else hashlib.sha256(text.encode()).hexdigest()


def encode(event: Event, cfg: ProviderConfig) -> list[SnsDelivery]:
    arn, region = topic(cfg)
    message = chatbot_message(event) if cfg.format == CHATBOT else event_json(event)
    # SNS takes a Subject of ASCII text without control characters (e-mail subscribers see it).
    subject = _CONTROL.sub(" ", title(event)).encode("ascii", "replace").decode()[:_SUBJECT_LIMIT].strip()
    delivery = SnsDelivery(arn, region, message, subject, attributes(event))
    if arn.endswith(".fifo"):
        dedup = hashlib.sha256(message.encode("utf-8")).hexdigest()
        delivery = SnsDelivery(arn, region, message, subject, delivery.attributes, group_id(event), dedup)
    return [delivery]


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    """One Publish call with the cached client of the topic's region. HTTP transport unused."""
    validate(cfg)
    (delivery,) = encode(event, cfg)
    prefix = f"failed to publish to SNS topic {delivery.topic}: "
    try:
        client("sns", delivery.region, cfg).publish(**delivery.publish_arguments())
    except Exception as err:  # noqa: BLE001 - every boto3 error is classified
        raise failure(prefix, err, cfg) from None
