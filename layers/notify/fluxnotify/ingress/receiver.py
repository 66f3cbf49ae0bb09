"""Receiver logic: auth → limits → parse + validate → clean-up → dedup → enqueue → 202.

Transport-neutral: the Lambda handler (API Gateway HTTP API) and the local server
both call ``Receiver.handle(method, path, headers, body)``. It knows nothing about
providers. Every refusal is a 4xx with a JSON body naming the problem, and nothing
is queued then; only a queue outage answers 503 (so Flux's controller retries).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from fluxnotify.ingress.dedup import DedupStore, NoDedup
from fluxnotify.ingress.forwarded import as_raw, is_forwarded
from fluxnotify.metrics import Metrics, NullMetrics
from fluxnotify.model.event import (
    EventError,
    clean_metadata,
    dedup_key,
    parse_event,
    strip_internal,
    validate_event,
)
from fluxnotify.queue import Queue
from fluxnotify.queue.messages import new_envelope

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 256 * 1024
QUEUE_MESSAGE_LIMIT = 1024 * 1024
JSON_CONTENT_TYPES = ("application/json", "text/json")

TokenSource = Callable[[], "str | None"]
REJECTION_REASONS = {
    400: "invalid_event", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
    413: "too_large", 415: "unsupported_media_type", 503: "queue_unavailable",
}


@dataclass
class HttpResponse:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, message: str, field_name: str | None = None, **headers: str) -> HttpResponse:
    payload: dict[str, object] = {"error": message, "status": status}
    if field_name:
        payload["field"] = field_name
    return HttpResponse(status, json.dumps(payload), {"Content-Type": "application/json", **headers})


def rfc1123(timestamp: float) -> str:
    """The reference's X-RateLimit-Reset format: 'Mon, 02 Jan 2006 15:04:05 UTC'."""
    text = format_datetime(datetime.fromtimestamp(timestamp, UTC), usegmt=True)
    return text.replace("GMT", "UTC")


class Receiver:
    def __init__(
        self,
        queue: Queue,
        dedup: DedupStore | None = None,
        token: TokenSource = lambda: None,
        max_body: int | None = None,
        metrics: Metrics | None = None,
    ):
        self.queue = queue
        self.metrics = metrics or NullMetrics()
        self.dedup = dedup or NoDedup()
        self.token = token
        limit = max_body or int(os.environ.get("MAX_BODY_BYTES", DEFAULT_MAX_BODY))
        self.max_body = min(limit, QUEUE_MESSAGE_LIMIT // 2)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        response = self._handle(method, path, headers, body)
        self.metrics.count("EventsReceived")
        if response.status == 202:
            self.metrics.count("EventsQueued")
        elif response.status == 429:
            self.metrics.count("EventsDuplicate")
        else:
            self.metrics.count("EventsRejected", {"Reason": REJECTION_REASONS.get(response.status, str(response.status))})
        return response

    def _handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        headers = {k.lower(): v for k, v in headers.items()}
        if method != "POST":  # methods are case-sensitive (RFC 9110): `post` is not POST
            return _error(405, f"method {method} not allowed: POST the event", Allow="POST")
        segments = [s for s in path.split("?")[0].split("/") if s]
        if len(segments) > 1:
            return _error(404, "not found: POST to / or /<token>")
        refusal = self._authenticate(segments[0] if segments else "", headers, body)
        if refusal is not None:
            return refusal
        if len(body) > self.max_body:
            return _error(413, f"request body is {len(body)} bytes, the limit is {self.max_body}")
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type and content_type not in JSON_CONTENT_TYPES and not content_type.endswith("+json"):
            return _error(415, f"content type {content_type!r} is not supported: send application/json")
        try:
            event = parse_event(body)
            validate_event(event)
        except EventError as err:
            return _error(400, str(err), err.field)
        if is_forwarded(headers, event):  # already processed by notification-controller
            event = as_raw(event)
        return self._accept(clean_metadata(event))

    def _authenticate(self, path_token: str, headers: dict[str, str], body: bytes) -> HttpResponse | None:
        try:
            expected = self.token()
        except Exception as err:  # the secret store is unreachable: Flux retries a 503
            logger.error("could not read the webhook token: %s", type(err).__name__)
            return _error(503, "the webhook token could not be read; retry later")
        if not expected:
            return None
        if path_token and hmac.compare_digest(path_token.encode(), expected.encode()):
            return None
        signature = headers.get("x-signature", "")
        if signature:
            algorithm, _, digest = signature.partition("=")
            computed = hmac.new(expected.encode(), body, hashlib.sha256).hexdigest()
            if algorithm == "sha256" and hmac.compare_digest(digest.lower().encode(), computed.encode()):
                return None
        return _error(401, "unauthorized: the webhook token in the path or X-Signature is missing or wrong")

    def _accept(self, event) -> HttpResponse:
        # Serialise first: an event that cannot become a message is refused before its key exists.
        envelope = new_envelope(strip_internal(event))
        try:
            message = envelope.to_json()
            message.encode("utf-8")
        except UnicodeEncodeError as err:
            return _error(400, f"the event contains a lone surrogate ({err.object[err.start]!r}): send valid UTF-8")
        try:
            # The key is recorded only together with the message (DedupStore.admit).
            verdict = self.dedup.admit(dedup_key(event), lambda: self.queue.send(message))
        except Exception as err:
            logger.error("could not queue the event: %s", _reason(err), extra={"object": _object(event)})
            return _error(503, "the event could not be queued; retry later")
        reset = rfc1123(verdict.reset)
        limit_headers = {"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
        if verdict.pending:
            return _error(503, "the same event is being queued right now; retry later", **{"Retry-After": "1"})
        if not verdict.allowed:
            logger.info("duplicate event refused", extra={"object": _object(event)})
            return _error(429, "duplicate event inside the rate-limit window", **limit_headers, **{"Retry-After": reset})
        logger.info("event queued", extra={"object": _object(event), "message_id": envelope.id})
        body = json.dumps({"status": "queued", "id": envelope.id})
        return HttpResponse(202, body, {"Content-Type": "application/json", **limit_headers})


def _reason(err: Exception) -> str:
    return f"{type(err).__name__}: {err}"


def _object(event) -> str:
    ref = event.involved_object
    return f"{ref.kind}/{ref.namespace}/{ref.name}"
