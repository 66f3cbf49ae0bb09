"""`matrix`: an m.room.message sent with the client-server API (spec §5.17).

``PUT <address>/_matrix/client/r0/rooms/<channel>/send/m.room.message/<txnId>`` where the
transaction id is the SHA-1 of the event's Go-JSON: a retried delivery of the same event
reuses the id and the homeserver answers it without posting the message twice. The
address is concatenated as is (a trailing '/' gives '//'); the room id is not escaped.
TLS honoured, proxy not (spec §3.5).
"""

from __future__ import annotations

import hashlib

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, obj_dot, require_url, send_all
from fluxnotify.transport.http import Request, Transport


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid Matrix homeserver URL {address}: '{error}'")


def txn_id(event: Event) -> str:
    """Lower-case hex SHA-1 of the event's Go-JSON (spec §1.4)."""
    return hashlib.sha1(event.go_json().encode("utf-8")).hexdigest()


def body_text(event: Event) -> str:
    emoji = "🚨" if event.severity == "error" else "💫"
    text = f"{emoji} {obj_dot(event)}\n{event.message}\n"
    for key, value in gojson.go_sorted(event.metadata).items():
        text += f"- {key}: {value}\n"
    return text


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    url = f"{cfg.address}/_matrix/client/r0/rooms/{cfg.channel}/send/m.room.message/{txn_id(event)}"
    payload = {"body": body_text(event), "msgtype": "m.text"}
    return [json_request(url, payload, {"Authorization": f"Bearer {cfg.token}"}, method="PUT")]


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    send_all(encode(event, cfg), cfg, transport, use_proxy=False)
