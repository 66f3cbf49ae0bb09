"""The local stack's bound on its queue: when the dispatcher falls behind, refuse, lose nothing.

Events due in the queue and not yet taken by the dispatcher (delayed retries and messages
being delivered do not count) are the backlog. Over ``limit`` (Settings.max_backlog, serve's
``--max-backlog``), new events get 503 with ``Retry-After`` instead of a queue that grows
without bound: nothing was queued, and Flux's controllers retry a 5xx.

Counting the queue on every request would cost a query each: the count is taken at most every
``every`` seconds, and what this receiver queued since is added to it (the dispatcher's takes
are seen at the next count), so the bound errs on the side of refusing.
"""

from __future__ import annotations

import threading
import time

from fluxnotify.ops.httpserver import Answer, error_answer
from fluxnotify.queue.sqlite import SqliteQueue

RETRY_AFTER = 1  # seconds: the dispatcher takes hundreds of events in that time


class BacklogBound:
    def __init__(self, queue: SqliteQueue, limit: int, every: float = 0.1):
        self.queue = queue
        self.limit = limit
        self.every = every
        self._count = 0
        self._counted_at = -float("inf")
        self._lock = threading.Lock()

    def full(self) -> bool:
        """Whether the backlog is at its bound now (never, with no bound)."""
        if self.limit <= 0:
            return False
        with self._lock:
            if time.monotonic() - self._counted_at >= self.every:
                self._count = self.queue.due()
                self._counted_at = time.monotonic()
            return self._count >= self.limit

    def added(self, count: int) -> None:
        with self._lock:
            self._count += count

    def refusal(self) -> Answer:
        answer = error_answer(503, f"the local queue holds {self._count} events waiting for delivery, its bound "
                                   f"(--max-backlog / MAX_BACKLOG) is {self.limit}: the dispatcher is behind; "
                                   f"nothing was queued, retry in {RETRY_AFTER} s")
        answer.headers["Retry-After"] = str(RETRY_AFTER)
        return answer
