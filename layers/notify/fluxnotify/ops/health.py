"""`GET /healthz` of the local stack: 200 only while the dispatcher runs and the store takes writes.

The answer is JSON either way (503 when unhealthy), with what an operator looks at first:

    {"status": "ok", "dispatcher": "alive", "store": "writable", "queue_depth": 3,
     "oldest_pending_age_s": 0.4, "dead_letters": 0}

The write probe uses its own short-lived connection with a short lock timeout, so a store
locked by another program makes healthz answer 503 at once instead of hanging.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from fluxnotify.queue.sqlite import SqliteDatabase

PROBE_TIMEOUT = 0.25


def health(db: SqliteDatabase, dispatcher_alive: Callable[[], bool]) -> tuple[int, dict]:
    alive = dispatcher_alive()
    report: dict = {"status": "ok", "dispatcher": "alive" if alive else "dead", "store": "writable"}
    try:
        db.check_file()
        # mode=rw: never create a file where the database went missing.
        uri = Path(db.path).resolve().as_uri() + "?mode=rw"
        probe = sqlite3.connect(uri, uri=True, timeout=PROBE_TIMEOUT, isolation_level=None)
        try:
            (depth, oldest), = probe.execute(
                "SELECT COUNT(*), MIN(sent_at) FROM messages WHERE queue = 'events'").fetchall()
            (dead,), = probe.execute("SELECT COUNT(*) FROM messages WHERE queue = 'dead'").fetchall()
            report.update(queue_depth=depth, dead_letters=dead,
                          oldest_pending_age_s=round(time.time() - oldest, 3) if oldest is not None else None)
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        finally:
            probe.close()
    except sqlite3.Error as err:
        report["store"] = str(err)
    if not alive or report["store"] != "writable":
        report["status"] = "unavailable"
    return (200 if report["status"] == "ok" else 503), report
