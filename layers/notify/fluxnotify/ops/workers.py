"""Dispatcher worker threads of the local stack: SQLite queue → Dispatcher → providers.

Each worker takes up to BATCH messages at a time (one transaction), delivers them one after
another (messages it has not started when half the visibility timeout has passed go back to
the queue untouched, so a slow provider never lets a claim run out under a delivery), writes
their delivery status in one transaction (``BatchedStatus(whole=True)``) and deletes them in one: a few
writes per batch instead of several per message, so the dispatcher holds the database's write
lock briefly and seldom while the receiver commits events. A message handed out for the first
time skips the ledger read (nothing can be in it yet), as on Lambda.

A worker never dies of a store error (a lock held by another program, a full disk, the file
gone): it logs the first failure of a streak, backs off (up to MAX_BACKOFF) and goes on, and
logs again once the store works. Messages are deleted only after they were handled, so
whatever failed is received again later.
"""

from __future__ import annotations

import logging
import threading
import time

from fluxnotify.delivery.batch import Deadline
from fluxnotify.delivery.dispatcher import Dispatcher
from fluxnotify.delivery.stages import digests
from fluxnotify.queue.sqlite import SqliteQueue
from fluxnotify.settings import Settings
from fluxnotify.state.status import SafeRecorder
from fluxnotify.state.status_batch import BatchedStatus
from fluxnotify.state.stores import Stores

logger = logging.getLogger(__name__)

MAX_RECEIVES = 5  # like the template's maxReceiveCount: then the message is dead-lettered
MAX_BACKOFF = 2.0
BATCH = 25  # messages a worker takes at once


class DispatchWorkers:
    """Threads that take messages from the SQLite queue and hand them to the Dispatcher."""

    def __init__(self, store, queue: SqliteQueue, dead: SqliteQueue, count: int, settings: Settings | None = None,
                 idle_poll: float = 0.5):
        self.queue = queue
        self.dead = dead
        settings = settings or Settings()
        self.visibility_timeout = settings.visibility_timeout
        stores = Stores.sqlite(queue.db)
        assert isinstance(stores.status, SafeRecorder)  # SqliteStatus: a batch in one transaction
        self.status = stores.status = BatchedStatus(stores.status, stores.status.metrics, whole=True)
        self.dispatcher = Dispatcher(store, queue, dead, settings, stores=stores)
        # In-process, a send wakes the workers at once; another process can only poll.
        self.idle_poll = idle_poll
        self._stopping = threading.Event()
        self._failing = threading.Event()  # set while the store fails (one log line per streak)
        self._digests = stores.digests
        self._next_sweep = 0.0  # time.monotonic() of the next digest sweep (the first: at start)
        self._sweep_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, name=f"dispatch-{i}", daemon=True)
                         for i in range(count)]

    def start(self) -> DispatchWorkers:
        for thread in self._threads:
            thread.start()
        return self

    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads)

    def stop(self) -> None:
        self._stopping.set()
        with self.queue.db.changed:
            self.queue.db.changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                self._until_done(self._poll)
            except Exception:  # only while stopping
                return

    def _until_done(self, action):
        """Run a store action until it succeeds (or we stop), backing off between failures."""
        backoff = 0.05
        while True:
            try:
                result = action()
            except Exception as err:
                if self._stopping.is_set():
                    raise
                if not self._failing.is_set():
                    self._failing.set()
                    logger.error("dispatcher: the queue store failed (%s: %s); retrying with back-off",
                                 type(err).__name__, err)
                self._stopping.wait(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
                continue
            if self._failing.is_set():
                self._failing.clear()
                logger.warning("dispatcher: the queue store works again")
            return result

    def _sweep(self) -> None:
        """Long digest windows: serve's counterpart of the template's DigestSweep schedule."""
        with self._sweep_lock:
            if time.monotonic() < self._next_sweep:
                return
            self._next_sweep = time.monotonic() + digests.SWEEP_SECONDS
        digests.sweep(self._digests, self.queue)

    def _poll(self) -> None:
        self._sweep()
        claimed_at = time.monotonic()
        messages = self.queue.receive(max_messages=BATCH, visibility_timeout=self.visibility_timeout)
        handled: list[str] = []
        untouched: list[str] = []
        for message in messages:
            if time.monotonic() - claimed_at > self.visibility_timeout / 2:
                untouched.append(message.id)  # slow deliveries: give the rest back before their claim ends
            elif self._process(message):
                handled.append(message.id)
        self.status.flush()
        # Delivered: the deletes must not be lost to a passing lock, or they are delivered again.
        self._until_done(lambda: self.queue.delete_many(handled))
        if untouched:
            self._until_done(lambda: self.queue.release(untouched))
        if not messages:
            next_in = self.queue.next_visible_in()
            wait = self.idle_poll if next_in is None else min(self.idle_poll, max(next_in, 0.005))
            self.queue.wait(wait)

    def _process(self, message) -> bool:
        """Handle one message; True when it is done with (to be deleted)."""
        if message.receive_count > MAX_RECEIVES:
            error = f"received {message.receive_count - 1} times without being handled"
            letter = self.dispatcher.exhausted_letter(message.body, message.id, error)  # undelivered targets only
            self._until_done(lambda: self._dead_letter(message.id, letter))
            return False
        try:
            self.dispatcher.handle(message.body, message.id, Deadline(first_receipt=message.receive_count == 1))
        except Exception:
            # The follow-up could not be written: leave the message to reappear later.
            logger.exception("message handling failed; it will be retried", extra={"message_id": message.id})
            return False
        return True

    def _dead_letter(self, message_id: str, letter: str | None) -> None:
        with self.queue.db.transaction():
            if letter is not None:
                self.dead.send(letter)
            self.queue.delete(message_id)

