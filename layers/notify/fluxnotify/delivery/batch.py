"""An SQS batch, its records handled concurrently within the invocation's deadline.

The answer is SQS's partial-batch response, ``{"batchItemFailures": [{"itemIdentifier":
<messageId>}, ...]}``: a record listed there is redelivered by SQS after the visibility
timeout. A record fails when its handler raises (a follow-up could not be written) or
when it cannot finish in time: every delivery's timeout is cut to the time left, and a
record still busy shortly before the function's timeout is given up *untouched* — its
handler writes no follow-up once abandoned (its finished deliveries are in the ledger,
so the redelivery sends only the rest).

Time budget, from ``context.get_remaining_time_in_millis()`` (R seconds):
``finish_by`` = R − a return reserve (5 %, 0.1–3 s): answer SQS by then;
``deliver_by`` = ``finish_by`` − a follow-up reserve (5 %, ≤ 2 s): deliveries end by then.
The ``after`` step (the batch's status writes) ends a quarter of the return reserve after
``finish_by`` at the latest (when records ran to the deadline; at once otherwise).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 10  # the event source's BatchSize: every record of a batch at once
_RUNNING, _COMMITTING, _ABANDONED = "running", "committing", "abandoned"
REPLAYED = "fluxnotify-replayed"  # the message attribute ``fluxnotify replay`` sets


class Abandoned(Exception):
    """The record ran out of time before its follow-ups: leave it to SQS, untouched."""


class Deadline:
    """One record's time budget, shared with the batch runner that may abandon it."""

    def __init__(self, deliver_by: float = math.inf, finish_by: float = math.inf, first_receipt: bool = False):
        self.deliver_by = deliver_by  # time.monotonic() values
        self.finish_by = finish_by
        self.first_receipt = first_receipt  # SQS hands the record out for the first time
        self._state = _RUNNING
        self._lock = threading.Lock()

    def delivery_seconds(self) -> float:
        """Time left for a delivery (inf without a deadline)."""
        return self.deliver_by - time.monotonic()

    def begin_commit(self) -> bool:
        """Called before the first follow-up write: False once the runner gave the record up."""
        with self._lock:
            if self._state == _ABANDONED or time.monotonic() >= self.finish_by:
                self._state = _ABANDONED
                return False
            self._state = _COMMITTING
            return True

    def begin_record(self) -> None:
        """Called after the fan-out, before its ledger write: the runner waits for that write
        (as for follow-ups) instead of answering while it is under way, so a redelivery finds
        the fan-out's deliveries recorded."""
        with self._lock:
            if self._state == _RUNNING:
                self._state = _COMMITTING

    def abandon(self) -> bool:
        """The runner gives up: True unless the handler is already writing its follow-ups."""
        with self._lock:
            if self._state == _RUNNING:
                self._state = _ABANDONED
            return self._state == _ABANDONED


NO_DEADLINE_SECONDS = 900.0  # Lambda's longest timeout, when the context says nothing

Handler = Callable[[str, str, Deadline], Any]  # (body, message id, deadline)


class BatchRunner:
    def __init__(self, handle: Handler, concurrency: int = DEFAULT_CONCURRENCY,
                 after: Callable[[float], Any] | None = None,
                 summary: Callable[[], dict[str, int]] | None = None):
        """``after(seconds)``: called once the records are collected, with the time left
        before the answer is due (the batch's status writes); it never fails the batch.
        ``summary``: the outcome counts of the batch's messages (outcomes.Tally.take), logged
        with the batch's figures in one line per invocation."""
        self.handle = handle
        self.after = after
        self.summary = summary
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="record")

    def run(self, event: Any, context: Any = None) -> dict:
        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list):
            logger.error("not an SQS batch: no Records list", extra={"event_type": type(event).__name__})
            return {"batchItemFailures": []}
        started = time.monotonic()
        finish_by, deliver_by, hard_stop = budget(context)
        jobs: dict[str, tuple[Future, Deadline]] = {}
        for record in records:
            message_id, body = record_fields(record)
            if message_id is None or message_id in jobs:
                logger.error("SQS record without a (unique) messageId ignored")
                continue
            deadline = Deadline(deliver_by, finish_by, first_receipt(record))
            jobs[message_id] = (self._pool.submit(self._one, body, message_id, deadline), deadline)
        failed = self._collect(jobs, finish_by, hard_stop)
        self._after(finish_by + (hard_stop - finish_by) / 2)  # three quarters of the reserve left to answer
        if self.summary is not None:
            logger.info("batch handled", extra={"records": len(records), "left_to_sqs": len(failed),
                                                "duration_ms": round((time.monotonic() - started) * 1000, 1),
                                                **self.summary()})
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    def _one(self, body: str, message_id: str, deadline: Deadline) -> None:
        if deadline.delivery_seconds() <= 0:
            deadline.abandon()
            raise Abandoned("no time left to start")
        self.handle(body, message_id, deadline)

    def _after(self, until: float) -> None:
        if self.after is None:
            return
        try:
            self.after(max(0.0, until - time.monotonic()))
        except Exception:  # status is a view: the batch's answer stands
            logger.exception("after-batch step failed")

    def _collect(self, jobs: dict[str, tuple[Future, Deadline]], finish_by: float, hard_stop: float) -> list[str]:
        wait([future for future, _ in jobs.values()], timeout=max(0.0, finish_by - time.monotonic()))
        failed = []
        for message_id, (future, deadline) in jobs.items():
            if not future.done() and not deadline.abandon():
                # Already writing its follow-ups: a short wait, they are small queue writes.
                wait([future], timeout=max(0.0, hard_stop - time.monotonic()))
            if not future.done():
                logger.warning("record not finished before the deadline: left to SQS",
                               extra={"message_id": message_id})
                failed.append(message_id)
            elif (error := future.exception()) is not None:
                if isinstance(error, Abandoned):
                    logger.warning("record abandoned at the deadline: left to SQS", extra={"message_id": message_id})
                else:
                    logger.error("record failed: left to SQS", extra={"message_id": message_id},
                                 exc_info=(type(error), error, error.__traceback__))
                failed.append(message_id)
        return failed


def _reserve(remaining: float) -> float:
    return min(3.0, max(0.1, 0.05 * remaining))  # at least 100 ms: the status writes, then the answer


def budget(context: Any) -> tuple[float, float, float]:
    """(finish_by, deliver_by, hard_stop) as time.monotonic() values; hard_stop bounds the
    wait for a record caught writing its follow-ups at finish_by."""
    now = time.monotonic()
    try:
        remaining = float(context.get_remaining_time_in_millis()) / 1000
    except (AttributeError, TypeError, ValueError):
        remaining = NO_DEADLINE_SECONDS
    reserve = _reserve(remaining)
    finish_by = now + remaining - reserve
    return finish_by, finish_by - min(2.0, 0.05 * remaining), finish_by + reserve / 2


def first_receipt(record: dict) -> bool:
    """ApproximateReceiveCount 1 and not moved back by ``fluxnotify replay`` (which marks what
    it moves: a message SQS itself dead-lettered may have delivered before)."""
    attributes, marks = record.get("attributes"), record.get("messageAttributes")
    count = attributes.get("ApproximateReceiveCount") if isinstance(attributes, dict) else None
    return count == "1" and not (isinstance(marks, dict) and REPLAYED in marks)


def record_fields(record: Any) -> tuple[str | None, str]:
    """(messageId, body) of an SQS record; the body is "" when absent or not a string
    (the dispatcher dead-letters it as undecodable)."""
    if not isinstance(record, dict):
        return None, ""
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        return None, ""
    body = record.get("body")
    return message_id, body if isinstance(body, str) else ""
