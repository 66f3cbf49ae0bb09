"""`fluxnotify replay`: move dead letters back to the events queue for another round.

A moved dead letter starts again at attempt 1 and only for the Alert(s) it names
(see dispatcher.py), so providers that already took the event get nothing twice.
SQS: receive → send → delete, one message at a time in batches of 10, so a crash
half-way never loses a message (at worst one is present in both queues). Local
stack: one SQL update in the SQLite file.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, TextIO

from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue

# The dispatcher reads the ledger for a marked message even on its first receipt
# (delivery/batch.py REPLAYED).
REPLAYED_MARK = {"fluxnotify-replayed": {"DataType": "String", "StringValue": "1"}}


@dataclass
class ReplayReport:
    moved: int = 0
    listed: list[dict[str, Any]] = field(default_factory=list)
    by_provider: Counter = field(default_factory=Counter)

    def summary(self, dry_run: bool) -> str:
        verb = "would move" if dry_run else "moved"
        total = len(self.listed) if dry_run else self.moved
        parts = ", ".join(f"{provider}: {count}" for provider, count in sorted(self.by_provider.items()))
        return f"{verb} {total} message(s) from the dead-letter queue" + (f" ({parts})" if parts else "")


def describe(body: str) -> dict[str, Any]:
    """What a dead letter is about, for listings (never secrets: letters are redacted)."""
    try:
        letter = json.loads(body)
    except ValueError:
        return {"provider": "?", "reason": "undecodable message", "error": "not JSON", "object": "?"}
    if not isinstance(letter, dict):
        letter = {}
    event = letter.get("event")
    event = event if isinstance(event, dict) else {}
    ref = event.get("involvedObject")
    ref = ref if isinstance(ref, dict) else {}
    return {
        "provider": letter.get("provider") or "?",
        "reason": letter.get("reason") or "redriven by SQS",
        "error": letter.get("error") or "",
        "object": f"{ref.get('kind', '?')}/{ref.get('namespace', '?')}/{ref.get('name', '?')}",
        "attempt": letter.get("attempt"),
    }


def replay_sqs(
    sqs: Any, dlq_url: str, queue_url: str, *, dry_run: bool = False, limit: int | None = None,
    progress: TextIO | None = None,
) -> ReplayReport:
    progress = progress or sys.stderr
    report = ReplayReport()
    total = int(sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
                ["Attributes"]["ApproximateNumberOfMessages"])
    seen: set[str] = set()
    held: list[dict[str, str]] = []  # dry run: received messages, made visible again at the end
    while limit is None or len(seen) < limit:
        batch = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    VisibilityTimeout=60).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh[: None if limit is None else limit - len(seen)]:
            seen.add(message["MessageId"])
            info = describe(message["Body"])
            report.listed.append({"id": message["MessageId"], **info})
            report.by_provider[info["provider"]] += 1
            if dry_run:
                held.append({"Id": str(len(held)), "ReceiptHandle": message["ReceiptHandle"]})
                continue
            sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"], MessageAttributes=REPLAYED_MARK)
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            report.moved += 1
        progress.write(f"\rreplay: {len(seen)}/{max(total, len(seen))} dead letters handled")
        progress.flush()
    for start in range(0, len(held), 10):
        entries = [{**entry, "VisibilityTimeout": 0} for entry in held[start : start + 10]]
        sqs.change_message_visibility_batch(QueueUrl=dlq_url, Entries=entries)
    if seen:
        progress.write("\n")
    return report


def replay_local(database: str | SqliteDatabase, *, dry_run: bool = False, progress: TextIO | None = None,
                 ids: Collection[str] | None = None) -> ReplayReport:
    """Move every dead letter (or those of ``ids``) back; ``database`` is a path or an open one."""
    progress = progress or sys.stderr
    db = SqliteDatabase(database) if isinstance(database, str) else database
    try:
        dead, events = SqliteQueue(db, "dead"), SqliteQueue(db, "events")
        report = ReplayReport()
        for message in dead.all():
            if ids is not None and message.id not in ids:
                continue
            info = describe(message.body)
            report.listed.append({"id": message.id, **info})
            report.by_provider[info["provider"]] += 1
        if not dry_run:
            report.moved = dead.move_all_to(events) if ids is None else dead.move_to(events, ids)
            progress.write(f"replay: {report.moved}/{len(report.listed)} dead letters moved\n")
        return report
    finally:
        if db is not database:
            db.close()
