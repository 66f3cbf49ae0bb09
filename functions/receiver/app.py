"""ReceiverFunction: API Gateway HTTP API (payload v2) → fluxnotify.ingress.receiver → SQS. Wiring only."""

from __future__ import annotations

import base64
import os
from functools import cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from fluxnotify.ingress.dedup import DynamoDedup, NoDedup
from fluxnotify.ingress.receiver import Receiver
from fluxnotify.metrics import EmfMetrics
from fluxnotify.queue.sqs import SqsQueue

logger = Logger(service="fluxnotify")
app = APIGatewayHttpResolver()
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def webhook_token() -> str | None:
    """The token from Secrets Manager (cached for 5 minutes, so rotation takes effect soon)."""
    secret_id = os.environ.get("WEBHOOK_TOKEN_SECRET")
    if not secret_id:
        return None
    from aws_lambda_powertools.utilities import parameters  # first request only: not on the cold path

    return parameters.get_secret(secret_id, max_age=300).strip()


@cache
def receiver() -> Receiver:
    interval = float(os.environ.get("RATE_LIMIT_INTERVAL", "300"))
    table = os.environ.get("DEDUP_TABLE")
    dedup = DynamoDedup(table, interval) if table and interval > 0 else NoDedup()
    return Receiver(SqsQueue(os.environ["QUEUE_URL"]), dedup, token=webhook_token, metrics=EmfMetrics())


@app.route("/", method=ALL_METHODS)
@app.route("/<token>", method=ALL_METHODS)
def receive(token: str = "") -> Response:
    request = app.current_event
    body = request.body or ""
    raw = base64.b64decode(body) if request.is_base64_encoded else body.encode("utf-8")
    answer = receiver().handle(request.http_method, request.path, request.headers or {}, raw)
    return Response(
        status_code=answer.status,
        content_type=answer.headers.get("Content-Type", "application/json"),
        body=answer.body,
        headers={k: v for k, v in answer.headers.items() if k != "Content-Type"},
    )


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)


if os.environ.get("FLUXNOTIFY_TRACING") == "true":  # X-Ray via Powertools Tracer, when enabled
    from aws_lambda_powertools import Tracer

    lambda_handler = Tracer(service="fluxnotify").capture_lambda_handler(lambda_handler)
