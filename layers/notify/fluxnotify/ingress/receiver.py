"""Receiver logic: limits → auth → parse + validate → clean-up → dedup → enqueue → 202.

Transport-neutral: the Lambda handler (API Gateway HTTP API) and the local server
both call ``Receiver.handle(method, path, headers, body)``. It knows nothing about
providers. Every refusal is a 4xx with a JSON body naming the problem, and nothing
is queued then; only a queue outage answers 503 (so Flux's controller retries).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime

from fluxnotify.ingress.clusters import (
    CLUSTER_HINT_HEADER,
    TokenMap,
    TokenSecretError,
    cluster_for_signature,
    cluster_for_token,
    parse_token_secret,
    tag_cluster,
)
from fluxnotify.ingress.forwarded import as_raw, is_forwarded
from fluxnotify.metrics import Metrics, NullMetrics
from fluxnotify.model.event import (
    Event,
    EventError,
    clean_metadata,
    parse_event,
    strip_internal,
    validate_event,
)
from fluxnotify.queue import Queue
from fluxnotify.queue.messages import DEFAULT_CLUSTER, new_envelope
from fluxnotify.state.dedup import DedupStore, NoDedup, dedup_key

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 256 * 1024
QUEUE_MESSAGE_LIMIT = 1024 * 1024
JSON_CONTENT_TYPES = ("application/json", "text/json")

WINDOW_HINT = ("the window is set by RATE_LIMIT_INTERVAL (seconds; serve: --rate-limit-interval, "
               "the AWS stack: parameter RateLimitInterval); 0 turns duplicate suppression off")
# A plain token (cluster ``default``), the token secret's text, or a cluster → tokens map.
TokenSource = Callable[[], "str | TokenMap | None"]
REJECTION_REASONS = {
    400: "invalid_event", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
    413: "too_large", 415: "unsupported_media_type", 503: "queue_unavailable",
}


@dataclass
class HttpResponse:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Pending:
    """A valid event, serialised, waiting for ``Receiver.commit`` to queue it."""

    key: str  # the duplicate key
    message: str
    id: str
    event: Event
    cluster: str


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
        limit = max_body or DEFAULT_MAX_BODY  # Settings.max_body_bytes
        self.max_body = min(limit, QUEUE_MESSAGE_LIMIT // 2)

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpResponse:
        return self.commit(self.prepare(method, path, headers, body))

    def prepare(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpResponse | Pending:
        """Everything but the store: a refusal, or the event ready to be queued by ``commit``.

        The local stack prepares a batch of requests outside its write transaction and commits
        them inside it, so the transaction holds the database lock only for the writes."""
        headers = {k.lower(): v for k, v in headers.items()}
        if method != "POST":  # methods are case-sensitive (RFC 9110): `post` is not POST
            return _error(405, f"method {method} not allowed: POST the event", Allow="POST")
        segments = [s for s in path.split("?")[0].split("/") if s]
        if len(segments) > 1:
            return _error(404, "not found: POST to / or /<token>")
        if len(body) > self.max_body:  # first: an oversized body is never HMAC-ed (spec §1.3 order)
            return _error(413, f"request body is {len(body)} bytes, the limit is {self.max_body}")
        cluster = self._authenticate(segments[0] if segments else "", headers, body)
        if isinstance(cluster, HttpResponse):
            return cluster
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
        return self._accept(clean_metadata(event), cluster)

    def commit(self, prepared: HttpResponse | Pending) -> HttpResponse:
        """Record the duplicate key and queue the message (or pass a refusal on); count a refusal."""
        response = prepared if isinstance(prepared, HttpResponse) else self._queue(prepared)
        # An accepted event adds no metric (and so no log line): AWS counts requests and queued
        # messages for free (the dashboard reads those); refusals are ours to count.
        if response.status == 429:
            self.metrics.count("EventsDuplicate")
        elif response.status != 202:
            self.metrics.count("EventsRejected", {"Reason": REJECTION_REASONS.get(response.status, str(response.status))})
        return response

    def _authenticate(self, path_token: str, headers: dict[str, str], body: bytes) -> str | HttpResponse:
        """The cluster whose token the request carries (path or X-Signature), or a refusal."""
        try:
            tokens = self._tokens()
        except Exception as err:  # the secret cannot be read or parsed: a server problem, Flux retries a 503
            reason = str(err) if isinstance(err, TokenSecretError) else type(err).__name__
            logger.error("could not read the webhook tokens: %s", reason)
            return _error(503, "the webhook token could not be read; retry later")
        if tokens is None:  # no token configured: webhook auth is off
            return DEFAULT_CLUSTER
        cluster = cluster_for_token(tokens, path_token) if path_token else None
        signature = headers.get("x-signature", "")
        if cluster is None and signature:
            # A signature is checked against one cluster's tokens: the one the header or the
            # path (`POST /<cluster>`) names, else `default` (clusters.signing_cluster).
            hint = headers.get(CLUSTER_HINT_HEADER, "").strip() or (path_token if path_token in tokens else None)
            cluster = cluster_for_signature(tokens, body, signature, hint)
        if cluster is None:
            return _error(401, "unauthorized: the webhook token in the path or X-Signature is missing or wrong")
        return cluster

    def _tokens(self) -> TokenMap | None:
        """None when auth is off; a configured map without tokens refuses every request."""
        value = self.token()
        if value is None or value == "":
            return None
        return parse_token_secret(value) if isinstance(value, str) else value

    def _accept(self, event, cluster: str) -> HttpResponse | Pending:
        # Serialise first: an event that cannot become a message is refused before its key exists.
        envelope = new_envelope(tag_cluster(strip_internal(event), cluster), cluster)
        try:
            message = envelope.to_json()
            message.encode("utf-8")
        except UnicodeEncodeError as err:
            return _error(400, f"the event contains a lone surrogate ({err.object[err.start]!r}): send valid UTF-8")
        return Pending(dedup_key(event, cluster), message, envelope.id, event, cluster)

    def _queue(self, pending: Pending) -> HttpResponse:
        event = pending.event
        try:
            # The key is recorded only together with the message (DedupStore.admit).
            verdict = self.dedup.admit(pending.key, lambda: self.queue.send(pending.message))
        except Exception as err:
            logger.error("could not queue the event: %s", _reason(err), extra={"object": _object(event)})
            return _error(503, "the event could not be queued; retry later")
        reset = rfc1123(verdict.reset)
        limit_headers = {"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
        if not verdict.allowed:
            logger.info("duplicate event refused", extra={"object": _object(event)})
            return _error(429, f"duplicate event inside the rate-limit window (until {reset}); {WINDOW_HINT}",
                          **limit_headers, **{"Retry-After": reset})
        # Accepted events are counted by SQS (NumberOfMessagesSent) and in the access log: this line is for debugging.
        logger.debug("event queued", extra={"object": _object(event), "message_id": pending.id,
                                            "cluster": pending.cluster})
        body = json.dumps({"status": "queued", "id": pending.id})
        return HttpResponse(202, body, {"Content-Type": "application/json", **limit_headers})


def _reason(err: Exception) -> str:
    return f"{type(err).__name__}: {err}"


def _object(event) -> str:
    ref = event.involved_object
    return f"{ref.kind}/{ref.namespace}/{ref.name}"
