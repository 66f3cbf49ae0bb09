"""`eventbridge` (fluxnotify's own type): the event put on an Amazon EventBridge event bus.

`channel` is the bus name or ARN (the client's region is the ARN's, else the default). One
PutEvents entry per event: Source `fluxnotify`, DetailType `<Kind> <reason>` (e.g.
`Kustomization ReconciliationSucceeded`), Detail the event as the `generic` provider posts
it plus `cluster`. PutEvents can fail per entry with HTTP 200: failed entries are sent again
a few times within the delivery when their error code is a throttling or internal one, then
the delivery fails retryably (it goes back through the queue); any other code is permanent.
See docs/providers/eventbridge.md.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import Any

from fluxnotify.config.options import ConfigError, ProviderConfig, redact
from fluxnotify.model.event import Event
from fluxnotify.providers.aws.shared import (
    RETRYABLE_CODES,
    check_credentials,
    client,
    event_json,
    failure,
    parse_arn,
)
from fluxnotify.transport.http import DeliveryError, Transport

SOURCE = "fluxnotify"
# Pauses before sending failed entries again within one delivery (then the queue retries).
ENTRY_RETRY_DELAYS = (0.1, 0.4)
_BUS_NAME = re.compile(r"^[A-Za-z0-9/._-]{1,256}$")


@dataclass(frozen=True)
class EventBridgeDelivery:
    """One PutEvents call; what `fluxnotify render` shows."""

    bus: str  # name or ARN, as configured
    region: str  # "" = the default region
    entries: tuple[dict[str, Any], ...]

    def render(self) -> dict[str, Any]:
        shown = [{**entry, "Detail": json.loads(entry["Detail"])} for entry in self.entries]
        return {"transport": "eventbridge", "region": self.region or None, "entries": shown}


def bus(cfg: ProviderConfig) -> tuple[str, str]:
    """(bus name or ARN, region or "") from the channel; ConfigError naming the field."""
    channel = cfg.channel.strip()
    if channel.startswith("arn:"):
        parsed = parse_arn(channel, "events")
        if parsed is None or not parsed[3].startswith("event-bus/") or not _BUS_NAME.match(parsed[3][10:]):
            raise ConfigError(
                f"invalid event bus ARN (channel) {channel!r}: expected "
                "arn:aws:events:<region>:<account-id>:event-bus/<name>"
            )
        return channel, parsed[1]
    if not _BUS_NAME.match(channel):
        raise ConfigError(
            f"invalid event bus (channel) {channel!r}: expected an event bus name (e.g. default) or its ARN"
        )
    return channel, ""


def validate(cfg: ProviderConfig) -> None:
    bus(cfg)
    if cfg.format:
        raise ConfigError(f"fluxnotify.io/format: {cfg.format!r} is not supported by eventbridge")
    check_credentials(cfg)


def encode(event: Event, cfg: ProviderConfig) -> list[EventBridgeDelivery]:
    name, region = bus(cfg)
    entry = {
        "Source": SOURCE,
        "DetailType": f"{event.involved_object.kind} {event.reason}",
        "Detail": event_json(event),
        "Resources": [],
        "EventBusName": name,
    }
    return [EventBridgeDelivery(name, region, (entry,))]


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    """PutEvents, sending failed entries again while their errors are throttling ones."""
    validate(cfg)
    (delivery,) = encode(event, cfg)
    prefix = f"failed to put events on event bus {delivery.bus}: "
    pending = list(delivery.entries)
    for delay in (*ENTRY_RETRY_DELAYS, None):
        try:
            answer = client("events", delivery.region, cfg).put_events(Entries=pending)
        except Exception as err:  # noqa: BLE001 - every boto3 error is classified
            raise failure(prefix, err, cfg) from None
        failed = [(entry, result) for entry, result in zip(pending, answer.get("Entries", []), strict=False)
                  if result.get("ErrorCode")]
        if not answer.get("FailedEntryCount") or not failed:
            return
        codes = {result["ErrorCode"] for _, result in failed}
        _, first = failed[0]
        text = redact(f"{first['ErrorCode']}: {first.get('ErrorMessage', '')}", cfg.sensitive_values())
        message = f"{prefix}{len(failed)} of {len(pending)} entries failed: {text}"
        if not codes <= RETRYABLE_CODES:
            raise DeliveryError(message, retryable=False)
        if delay is None:
            raise DeliveryError(message, retryable=True)
        time.sleep(delay)
        pending = [entry for entry, _ in failed]
