"""DispatcherFunction: SQS batch → fluxnotify.delivery.dispatcher → providers. Wiring only.

The batch's records are handled concurrently within the invocation's deadline
(fluxnotify.delivery.batch); a record whose follow-up (retry or dead letter) could not
be written, or that could not finish in time, is reported as a batch item failure, so
SQS redelivers it; the delivery ledger keeps a redelivery from sending anything twice.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache

from aws_lambda_powertools import Logger

from fluxnotify.config.aws import AwsStore
from fluxnotify.delivery.batch import BatchRunner
from fluxnotify.delivery.dispatcher import Dispatcher
from fluxnotify.metrics import EmfMetrics
from fluxnotify.queue.sqs import SqsQueue
from fluxnotify.state.ledger import DynamoLedger
from fluxnotify.state.status_dynamo import DynamoStatus

logger = Logger(service="fluxnotify")
metrics = EmfMetrics()


@cache
def runner() -> BatchRunner:
    import boto3  # at the first invocation, not at import

    queues = SqsQueue(os.environ["QUEUE_URL"]), SqsQueue(os.environ["DLQ_URL"])
    table = os.environ.get("STATE_TABLE")
    # One DynamoDB client for the ledger and the status store: each client costs cold-start time.
    dynamodb = boto3.client("dynamodb") if table else None
    ledger = DynamoLedger(table, client=dynamodb) if table else None
    status = DynamoStatus.from_env(metrics, client=dynamodb)
    dispatcher = Dispatcher(AwsStore(metrics=metrics), *queues, metrics=metrics, ledger=ledger, status=status)
    return BatchRunner(dispatcher.handle)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    try:
        return runner().run(event, context)
    finally:
        metrics.flush()  # one EMF document per dimension set and invocation


# Tracing is Lambda's active tracing (template parameter Tracing). The layer ships no
# aws-xray-sdk (it pulls in botocore); Powertools' Tracer adds subsegments only when an
# optional layer provides the SDK.
if os.environ.get("FLUXNOTIFY_TRACING") == "true" and importlib.util.find_spec("aws_xray_sdk"):
    from aws_lambda_powertools import Tracer

    lambda_handler = Tracer(service="fluxnotify").capture_lambda_handler(lambda_handler)
