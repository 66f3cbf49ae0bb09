"""`msteams`: Microsoft Teams incoming webhooks (spec §5.3).

The card schema follows the address host (without port): hosts ending in
``.webhook.office.com`` are the deprecated Office 365 connectors and get a MessageCard;
every other host (Teams Workflows, e.g. ``*.logic.azure.com``) gets an Adaptive Card 1.4.
The match is case-sensitive, as in the reference. Proxy and TLS honoured, no auth header.

Beyond the reference: Teams rejects payloads over 28 KB, so when the JSON body would
exceed ``MAX_BODY`` bytes the event message (only the message: never the title or the
facts) is cut, with a visible marker, to the longest head that fits.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, obj_dot, require_url
from fluxnotify.transport.http import Request

MAX_BODY = 28 * 1024  # bytes of JSON body Teams accepts
TRUNCATED = "… (truncated)"
CONNECTOR_SUFFIX = ".webhook.office.com"


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid MS Teams webhook URL {address}: '{error}'")


def host_without_port(address: str) -> str:
    """Go's url.Hostname(): the host, without port, userinfo or IPv6 brackets; case kept."""
    netloc = urllib.parse.urlsplit(address).netloc.rpartition("@")[2]
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.partition(":")[0]


def uses_message_card(address: str) -> bool:
    return host_without_port(address).endswith(CONNECTOR_SUFFIX)


def message_card(event: Event, message: str) -> dict:
    facts = [{"name": k, "value": v} for k, v in gojson.go_sorted(event.metadata).items()]
    return {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": "FF0000" if event.severity == "error" else "0076D7",
        "summary": obj_dot(event),
        "sections": [{"activityTitle": message, "activitySubtitle": obj_dot(event), "facts": facts}],
    }


def _adaptive_facts(metadata: dict[str, str]) -> list[dict]:
    """`summary` first, then every other key sorted (the reference sorts here too)."""
    facts = [{"title": "summary", "value": metadata["summary"]}] if "summary" in metadata else []
    facts += [{"title": k, "value": v} for k, v in gojson.go_sorted(metadata).items() if k != "summary"]
    return facts


def adaptive_card(event: Event, message: str) -> dict:
    title = {"type": "TextBlock", "text": obj_dot(event), "size": "large", "weight": "bolder", "wrap": True}
    text: dict = {"type": "TextBlock"}
    if message:
        text["text"] = message
    if event.severity == "error":
        text["color"] = "attention"
    text["wrap"] = True
    fact_set: dict = {"type": "FactSet"}
    facts = _adaptive_facts(event.metadata)
    if facts:
        fact_set["facts"] = facts
    content = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [{"type": "Container", "items": [title, text, fact_set]}],
        "msteams": {"width": "Full"},
    }
    return {
        "type": "message",
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": content}],
    }


def _size(payload: dict) -> int:
    return len(gojson.dumps(payload).encode("utf-8"))


def fit_message(build: Callable[[str], dict], message: str, limit: int = MAX_BODY) -> dict:
    """build(message), or build(head + marker) with the longest head that keeps it ≤ limit.

    The body grows monotonically with the head's length (JSON escaping only ever adds
    bytes), so a binary search finds the cut. When even the marker alone does not fit
    (huge metadata), the marker alone is sent: the facts are never cut.
    """
    payload = build(message)
    if _size(payload) <= limit:
        return payload
    low, high = 0, len(message)  # the answer lies in [low, high)
    while high - low > 1:
        middle = (low + high) // 2
        if _size(build(message[:middle] + TRUNCATED)) <= limit:
            low = middle
        else:
            high = middle
    return build(message[:low] + TRUNCATED)


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    if uses_message_card(cfg.address):
        payload = fit_message(lambda message: message_card(event, message), event.message)
    else:
        payload = fit_message(lambda message: adaptive_card(event, message), event.message)
    return [json_request(cfg.address, payload)]
