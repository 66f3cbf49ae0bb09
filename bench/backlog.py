"""Accepted vs delivered over one ingest run: the backlog, sampled, and the drain after the load.

Accepted = rows of serve's dedup table (one per distinct event, committed together with its
queue row: a 202 is never answered before), read from the database file read-only; delivered
= the sink's count of arrivals (one Provider, one Alert: one delivery per event). Both are
sampled every SAMPLE seconds; the backlog is their difference.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from common import sink_stats

SAMPLE = 0.1
DRAIN_LIMIT = 30.0  # stop waiting for the drain after this (then reported as not drained)


class Backlog:
    def __init__(self, database: Path, sink_port: int):
        self.sink_port = sink_port
        self._db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, check_same_thread=False)
        self.samples: list[tuple[float, int, int]] = []  # (monotonic, accepted, delivered), from the start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def counts(self) -> tuple[int, int]:
        accepted = self._db.execute("SELECT COUNT(*) FROM dedup").fetchone()[0]
        return accepted, sink_stats(self.sink_port)["count"]

    def __enter__(self) -> Backlog:
        self.settle()
        self.base = self.counts()
        self.started = time.monotonic()
        self._thread.start()
        return self

    def settle(self) -> None:
        """Wait (up to DRAIN_LIMIT) until everything accepted so far was delivered."""
        deadline = time.monotonic() + DRAIN_LIMIT
        while time.monotonic() < deadline:
            accepted, delivered = self.counts()
            if delivered >= accepted:
                return
            time.sleep(0.05)

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE):
            accepted, delivered = self.counts()
            self.samples.append((time.monotonic(), accepted - self.base[0], delivered - self.base[1]))

    def __exit__(self, *exc) -> None:
        self.load_ended = time.monotonic()
        self._stop.set()
        self._thread.join()
        self.accepted, self.delivered_in_load = (now - base for now, base in zip(self.counts(), self.base, strict=True))
        self.drain_s: float | None = None

    def drain(self) -> float | None:
        """Seconds after the load until every accepted event was delivered (None: not in DRAIN_LIMIT)."""
        deadline = self.load_ended + DRAIN_LIMIT
        while time.monotonic() < deadline:
            accepted, delivered = self.counts()
            if delivered - self.base[1] >= accepted - self.base[0]:
                self.drain_s = max(0.0, time.monotonic() - self.load_ended)
                return self.drain_s
            time.sleep(0.02)
        return None

    def summary(self) -> dict:
        seconds = self.load_ended - self.started
        rate = self.accepted / seconds if seconds else 0.0
        backlog = max((a - d for _, a, d in self.samples), default=0)
        return {
            "accepted_per_s_db": rate,
            "delivered_per_s": self.delivered_in_load / seconds if seconds else 0.0,
            "max_backlog": backlog,
            "max_backlog_s": backlog / rate if rate else 0.0,
            "drain_s": self.drain_s,
        }

    def close(self) -> None:
        self._db.close()
