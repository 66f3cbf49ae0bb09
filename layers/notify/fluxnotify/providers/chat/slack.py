"""`slack`: incoming webhooks and the Slack App `chat.postMessage` API (spec §5.1).

The attachment shape is shared with `discord` and `rocket` (see ``attachment_payload``).
"""

from __future__ import annotations

import json

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, obj_dot, require_url, send_all
from fluxnotify.transport.http import DeliveryError, Request, Response, Transport, status_error

CHAT_POST_MESSAGE = "https://slack.com/api/chat.postMessage"


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid Slack hook URL {address}: '{error}'")


def attachment_payload(
    event: Event, *, channel: str, username: str, fallback: str, color: str
) -> dict:
    """The Slack-compatible body: channel, username, icons and one attachment."""
    fields = [
        {"title": key, "value": value, "short": False}
        for key, value in gojson.go_sorted(event.metadata).items()
    ]
    return {
        "channel": channel,
        "username": username,
        "icon_url": "",
        "icon_emoji": "",
        "attachments": [
            {
                "fallback": fallback,
                "color": color,
                "author_name": obj_dot(event),
                "text": event.message,
                "mrkdwn_in": ["text"],
                "fields": fields,
            }
        ],
    }


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    payload = attachment_payload(
        event,
        channel=cfg.channel,
        username=cfg.username or event.reporting_controller,
        fallback=f"{obj_dot(event)}: {event.message.split(chr(10), 1)[0]}",
        color="danger" if event.severity == "error" else "good",
    )
    headers = {"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}
    return [json_request(cfg.address, payload, headers)]


def check_chat_post_message(response: Response) -> None:
    """chat.postMessage answers 200 with {"ok": false} on errors; 429/5xx are still retried."""
    if response.status == 429 or response.status >= 500:
        raise status_error(response)
    try:
        ok, error = _decode_answer(response.body)
    except ValueError as err:
        raise DeliveryError(f"request failed: unable to unmarshal response body: {err}", retryable=False) from None
    if not ok:
        raise DeliveryError(f"request failed: Slack responded with error: {error}", retryable=False)


def _decode_answer(body: bytes) -> tuple[bool, str]:
    """Decode like Go's json.Unmarshal into {Ok bool; Error string}: absent ok is false."""
    answer = json.loads(body)
    if answer is None:
        answer = {}
    if not isinstance(answer, dict):
        raise ValueError(f"cannot unmarshal {type(answer).__name__} into the response object")
    ok, error = answer.get("ok"), answer.get("error")
    if ok is not None and not isinstance(ok, bool):
        raise ValueError("cannot unmarshal a non-boolean into field ok")
    if error is not None and not isinstance(error, str):
        raise ValueError("cannot unmarshal a non-string into field error")
    return bool(ok), error or ""


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    if cfg.address == CHAT_POST_MESSAGE:
        send_all(encode(event, cfg), cfg, transport, check=check_chat_post_message)
    else:
        send_all(encode(event, cfg), cfg, transport)
