"""`slack`: incoming webhooks and the Slack App `chat.postMessage` API (spec §5.1).

The attachment shape is shared with `discord` and `rocket` (see ``attachment_payload``).
App API requests go to ``<API>/chat.postMessage``, ``<API>`` being the environment variable
``SLACK_API_URL`` (default ``https://slack.com/api``; tests point it at a local server).
Threads (Provider annotation ``fluxnotify.io/thread``, delivery/stages/threads.py) use
``post_message``: a reply carries ``thread_ts`` (and ``reply_broadcast`` for errors), and the
posted message's ``ts`` is returned.
"""

from __future__ import annotations

import json
import os

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, obj_dot, require_url, send_all, send_one
from fluxnotify.transport.http import DeliveryError, Request, Response, Transport, status_error

CHAT_POST_MESSAGE = "https://slack.com/api/chat.postMessage"
DEFAULT_API_URL = "https://slack.com/api"


def is_app_api(address: str) -> bool:
    return address in (CHAT_POST_MESSAGE, chat_post_message_url())


def chat_post_message_url() -> str:
    return (os.environ.get("SLACK_API_URL") or DEFAULT_API_URL).rstrip("/") + "/chat.postMessage"


def _url(address: str) -> str:
    """The App API address is sent to SLACK_API_URL when that is set."""
    return chat_post_message_url() if address == CHAT_POST_MESSAGE and os.environ.get("SLACK_API_URL") else address


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


def encode(event: Event, cfg: ProviderConfig, thread_ts: str = "") -> list[Request]:
    payload = attachment_payload(
        event,
        channel=cfg.channel,
        username=cfg.username or event.reporting_controller,
        fallback=f"{obj_dot(event)}: {event.message.split(chr(10), 1)[0]}",
        color="danger" if event.severity == "error" else "good",
    )
    if thread_ts:
        payload["thread_ts"] = thread_ts
        if event.severity == "error":
            payload["reply_broadcast"] = True
    headers = {"Authorization": f"Bearer {cfg.token}"} if cfg.token else {}
    return [json_request(_url(cfg.address), payload, headers)]


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
    if is_app_api(cfg.address):
        send_all(encode(event, cfg), cfg, transport, check=check_chat_post_message)
    else:
        send_all(encode(event, cfg), cfg, transport)


def post_message(event: Event, cfg: ProviderConfig, transport: Transport, thread_ts: str = "") -> str:
    """chat.postMessage (in a thread when thread_ts is given); the posted message's ts or ""."""
    (request,) = encode(event, cfg, thread_ts)
    response = send_one(request, cfg, transport, check=check_chat_post_message)
    try:
        ts = json.loads(response.body).get("ts")
    except (ValueError, AttributeError):
        return ""
    return ts if isinstance(ts, str) else ""
