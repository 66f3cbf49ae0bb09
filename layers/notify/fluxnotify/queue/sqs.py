"""Amazon SQS queue (the receiver's output, the dispatcher's retries and dead letters)."""

from __future__ import annotations

from typing import Any

from fluxnotify.queue import MAX_DELAY_SECONDS


class SqsQueue:
    def __init__(self, url: str, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("sqs")
        self.url = url
        self.client = client

    def send(self, body: str, delay: int = 0) -> str:
        answer = self.client.send_message(
            QueueUrl=self.url,
            MessageBody=body,
            DelaySeconds=max(0, min(int(delay), MAX_DELAY_SECONDS)),
        )
        return answer["MessageId"]
