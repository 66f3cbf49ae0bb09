"""ReceiverFunction: API Gateway HTTP API (payload v2) → fluxnotify.ingress.receiver → SQS. Wiring only."""

from __future__ import annotations

import importlib.util
import os
from functools import cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from fluxnotify.ingress.apigw import handle_api_event, redacted_event
from fluxnotify.ingress.receiver import Receiver
from fluxnotify.ingress.tokens import SecretTokens
from fluxnotify.metrics import EmfMetrics
from fluxnotify.queue.sqs import SqsQueue
from fluxnotify.settings import Settings
from fluxnotify.state.dedup import DynamoDedup, NoDedup

logger = Logger(service="fluxnotify")
metrics = EmfMetrics()


def webhook_tokens(settings: Settings) -> SecretTokens | None:
    """Cluster → tokens from the token secret (read on the first request, cached 5 minutes)."""
    secret_id = settings.webhook_token_secret
    return SecretTokens(secret_id, max_age=300) if secret_id else None


@cache
def receiver() -> Receiver:
    settings = Settings.from_env()
    interval, table = settings.rate_limit_interval, settings.dedup_table
    dedup = DynamoDedup(table, interval) if table and interval > 0 else NoDedup()
    tokens = webhook_tokens(settings)
    return Receiver(SqsQueue(settings.queue_url, bounded=True), dedup, token=tokens or (lambda: None),
                    max_body=settings.max_body_bytes, metrics=metrics)


def log_event_wanted() -> bool:
    """Powertools' debugging switch, read per invocation like Powertools reads it."""
    return os.environ.get("POWERTOOLS_LOGGER_LOG_EVENT", "").strip().lower() in {"1", "true", "t", "yes", "y", "on"}


# The API Gateway request id (also in the access log) is the correlation id of every log line.
# log_event=False: Powertools would log the raw event, token in the path; a redacted copy instead.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True,
                              log_event=False)
def lambda_handler(event: dict, context) -> dict:
    if log_event_wanted():
        logger.info(redacted_event(event))
    # Any event shape gets an HTTP answer (ingress/apigw.py), never an unhandled exception.
    try:
        return handle_api_event(receiver(), event)
    finally:
        metrics.flush()  # one EMF document per dimension set and invocation


# Tracing is Lambda's active tracing (template parameter Tracing). The layer ships no
# aws-xray-sdk (it pulls in botocore); Powertools' Tracer adds subsegments only when an
# optional layer provides the SDK.
if Settings.from_env().tracing and importlib.util.find_spec("aws_xray_sdk"):
    from aws_lambda_powertools import Tracer

    lambda_handler = Tracer(service="fluxnotify").capture_lambda_handler(lambda_handler)
