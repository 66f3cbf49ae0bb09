"""Amazon SQS queue (the receiver's output, the dispatcher's retries and dead letters)."""

from __future__ import annotations

from typing import Any

from fluxnotify.queue import MAX_DELAY_SECONDS

# The receiver's sends: a slow SQS answer raises after at most ~7 s (2 attempts of 1 s connect
# + 2 s read, plus back-off), inside its 10 s Lambda timeout, so the duplicate key of an event
# that was not queued is still deleted (state/dedup.py).
SEND_TIMEOUTS = {"connect_timeout": 1, "read_timeout": 2, "retries": {"max_attempts": 2, "mode": "standard"}}


class SqsQueue:
    def __init__(self, url: str, client: Any = None, bounded: bool = False):
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client("sqs", config=Config(**SEND_TIMEOUTS) if bounded else None)
        self.url = url
        self.client = client

    def send(self, body: str, delay: int = 0) -> str:
        answer = self.client.send_message(
            QueueUrl=self.url,
            MessageBody=body,
            DelaySeconds=max(0, min(int(delay), MAX_DELAY_SECONDS)),
        )
        return answer["MessageId"]
