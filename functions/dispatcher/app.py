"""DispatcherFunction: SQS batch → fluxnotify.delivery.dispatcher → providers. Wiring only.

The batch's records are handled concurrently within the invocation's deadline
(fluxnotify.delivery.batch); a record whose follow-up (retry or dead letter) could not
be written, or that could not finish in time, is reported as a batch item failure, so
SQS redelivers it; the delivery ledger keeps a redelivery from sending anything twice.
"""

from __future__ import annotations

import importlib.util
import logging
from functools import cache

from aws_lambda_powertools import Logger

from fluxnotify.config.aws import AwsStore
from fluxnotify.config.store import ConfigStore
from fluxnotify.delivery.batch import BatchRunner
from fluxnotify.delivery.dispatcher import Dispatcher
from fluxnotify.delivery.outcomes import Tally
from fluxnotify.delivery.stages import digests
from fluxnotify.metrics import EmfMetrics
from fluxnotify.queue import Queue
from fluxnotify.queue.sqs import SqsQueue
from fluxnotify.settings import Settings
from fluxnotify.state.stores import Stores

logger = Logger(service="fluxnotify")
metrics = EmfMetrics()


@cache
def runner() -> BatchRunner:
    import boto3  # at the first invocation, not at import

    settings = Settings.from_env()
    # One DynamoDB client for every store: each client costs cold-start time.
    dynamodb = boto3.client("dynamodb") if settings.state_table else None
    # Status is written once per invocation, merged over the batch's records (status_batch.py).
    stores = Stores.dynamo(settings.state_table, dynamodb, metrics, settings.ledger_ttl, batched=True)
    return build(AwsStore(metrics=metrics, settings=settings), SqsQueue(settings.queue_url),
                 SqsQueue(settings.dlq_url), settings, stores)


def build(store: ConfigStore, queue: Queue, dead_letters: Queue, settings: Settings, stores: Stores) -> BatchRunner:
    """The handler's runner on its config store, queues and stores (bench/dispatch_worker.py
    runs it on local ones)."""
    # Per-message lines at DEBUG: one summary line per invocation says what the batch came to.
    tally = Tally(each_at=logging.DEBUG)
    dispatcher = Dispatcher(store, queue, dead_letters, settings, stores=stores, metrics=metrics, tally=tally)
    return BatchRunner(dispatcher.handle, after=stores.status.flush, summary=tally.take)


@cache
def sweeper() -> tuple:
    """The digest store and queue of the DigestSweep schedule (template.yaml)."""
    settings = Settings.from_env()
    return Stores.dynamo(settings.state_table).digests, SqsQueue(settings.queue_url)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    try:
        if isinstance(event, dict) and event.get("sweep") == "digests" and "Records" not in event:
            return {"queued": digests.sweep(*sweeper()) if Settings.from_env().state_table else 0}
        return runner().run(event, context)
    finally:
        metrics.flush()  # one EMF document per dimension set and invocation


# Tracing is Lambda's active tracing (template parameter Tracing). The layer ships no
# aws-xray-sdk (it pulls in botocore); Powertools' Tracer adds subsegments only when an
# optional layer provides the SDK.
if Settings.from_env().tracing and importlib.util.find_spec("aws_xray_sdk"):
    from aws_lambda_powertools import Tracer

    lambda_handler = Tracer(service="fluxnotify").capture_lambda_handler(lambda_handler)
