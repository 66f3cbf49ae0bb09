"""Queues: one small interface, ``send(body, delay)``; SQS on AWS, SQLite locally."""

from __future__ import annotations

from typing import Protocol

MAX_DELAY_SECONDS = 900  # SQS's per-message limit; longer waits take several hops


class Queue(Protocol):
    def send(self, body: str, delay: int = 0) -> str:
        """Enqueue a message body, visible after ``delay`` seconds; return its id."""
        ...
