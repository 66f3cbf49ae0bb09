"""One dispatcher invocation's delivery status, written once at its end.

A batch's records (up to 10, concurrently) mostly touch the same Providers and Alerts:
``BatchedStatus`` keeps their outcomes in memory and ``flush`` merges them per Provider
and Alert and writes each once (``write_change``) instead of once per message.

(The DynamoDB store writes per (Alert, Provider) pair: one UpdateItem each, so a batch of
10 messages to 3 Alerts costs 3 writes.)

``record`` also holds the outcomes of a record handed back to SQS (its deliveries happened:
the dispatcher reports them before raising), so they are written with the rest. Outcomes
recorded after the flush (a record still running when the runner gave up on it) wait for
the next invocation's flush. A failed or late write is logged and counted
(``StatusWriteFailed``) and never fails the batch: status is a view.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from fluxnotify.metrics import Metrics, NullMetrics
from fluxnotify.state.status import Change, Outcome, changes, outcomes_of

logger = logging.getLogger(__name__)

MAX_BUFFERED = 2000  # outcomes: beyond, write at once (a caller that never flushes)
WRITERS = 4  # concurrent UpdateItems at a flush


class BatchedStatus:
    def __init__(self, store: Any, metrics: Metrics | None = None, whole: bool = False):
        """``store``: a DynamoStatus (anything with ``write_change(change)``); with ``whole``,
        a store whose ``write(outcomes)`` takes a batch at once (SqliteStatus: one
        transaction; the local stack's dispatcher workers)."""
        self.store = store
        self.metrics = metrics or NullMetrics()
        self.whole = whole
        self._outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=WRITERS, thread_name_prefix="status")

    def record(self, event: Any, envelope: Any, results: list[Any]) -> None:
        try:
            outcomes = outcomes_of(event, envelope, results)
        except Exception as err:  # status is a view: never fail a delivery for it
            self._failed(f"{type(err).__name__}: {err}")
            return
        self.add(outcomes)

    def add(self, outcomes: list[Outcome]) -> None:
        with self._lock:
            self._outcomes.extend(outcomes)
            full = len(self._outcomes) >= MAX_BUFFERED
        if full:
            self.flush()

    def flush(self, timeout: float | None = None) -> None:
        """Write every recorded outcome, merged per Provider and Alert; waits ``timeout``
        seconds at most (the invocation's time left), counting the writes not done by then."""
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        if not outcomes:
            return
        if self.whole:
            self._write_all(outcomes)
            return
        split = getattr(self.store, "changes", changes)  # the store's unit: pairs on DynamoDB
        futures = [self._pool.submit(self._write, change) for change in split(outcomes)]
        late = wait(futures, timeout=timeout).not_done
        if late:
            logger.warning("delivery status writes not finished in time", extra={"writes": len(late)})
            self.metrics.count("StatusWriteFailed", value=len(late))

    def _write_all(self, outcomes: list[Outcome]) -> None:
        try:
            self.store.write(outcomes)
        except Exception as err:
            self._failed(f"{type(err).__name__}: {err}")

    def _write(self, change: Change) -> None:
        try:
            self.store.write_change(change)
        except Exception as err:
            self._failed(f"{type(err).__name__}: {err}")

    def _failed(self, error: str) -> None:
        logger.warning("delivery status not recorded", extra={"error": error})
        self.metrics.count("StatusWriteFailed")
