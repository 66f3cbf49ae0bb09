"""ReceiverFunction: API Gateway HTTP API (payload v2) → fluxnotify.ingress.receiver → SQS. Wiring only."""

from __future__ import annotations

import os
from functools import cache

from aws_lambda_powertools import Logger

from fluxnotify.ingress.apigw import handle_api_event
from fluxnotify.ingress.dedup import DynamoDedup, NoDedup
from fluxnotify.ingress.receiver import Receiver
from fluxnotify.metrics import EmfMetrics
from fluxnotify.queue.sqs import SqsQueue

logger = Logger(service="fluxnotify")


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


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    # Any event shape gets an HTTP answer (ingress/apigw.py), never an unhandled exception.
    return handle_api_event(receiver(), event)


if os.environ.get("FLUXNOTIFY_TRACING") == "true":  # X-Ray via Powertools Tracer, when enabled
    from aws_lambda_powertools import Tracer

    lambda_handler = Tracer(service="fluxnotify").capture_lambda_handler(lambda_handler)
