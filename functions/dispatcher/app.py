"""DispatcherFunction: SQS batch → fluxnotify.delivery.dispatcher → providers. Wiring only.

Each record is handled on its own; a record whose follow-up (retry or dead letter)
could not be written is reported as a batch item failure, so SQS redelivers it.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from fluxnotify.config.aws import AwsStore
from fluxnotify.delivery.dispatcher import Dispatcher
from fluxnotify.delivery.status_dynamo import DynamoStatus
from fluxnotify.metrics import EmfMetrics
from fluxnotify.queue.sqs import SqsQueue

logger = Logger(service="fluxnotify")
processor = BatchProcessor(event_type=EventType.SQS)


@cache
def dispatcher() -> Dispatcher:
    queues = SqsQueue(os.environ["QUEUE_URL"]), SqsQueue(os.environ["DLQ_URL"])
    metrics = EmfMetrics()
    return Dispatcher(AwsStore(), *queues, metrics=metrics, status=DynamoStatus.from_env(metrics))


def record_handler(record: SQSRecord) -> None:
    dispatcher().handle(record.body)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict, context) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


# Tracing is Lambda's active tracing (template parameter Tracing). The layer ships no
# aws-xray-sdk (it pulls in botocore); Powertools' Tracer adds subsegments only when an
# optional layer provides the SDK.
if os.environ.get("FLUXNOTIFY_TRACING") == "true" and importlib.util.find_spec("aws_xray_sdk"):
    from aws_lambda_powertools import Tracer

    lambda_handler = Tracer(service="fluxnotify").capture_lambda_handler(lambda_handler)
