"""`fluxnotify status`: delivery status per Provider and Alert, queue depth, oldest message
age and dead letters — from the local stack's SQLite file or from AWS (the state table and
SQS). Also the `Delivering` condition that `validate --from-aws` adds next to `Ready`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from fluxnotify.ops.replay import describe
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.status import DEAD_LETTERED, DELIVERED, FAILURES, SKIPPED, ObjectStatus, iso

if TYPE_CHECKING:  # validate pulls in every provider module: not for `status` itself
    from fluxnotify.ops.validate import Condition


@dataclass
class Snapshot:
    objects: list[ObjectStatus]
    queue: dict[str, Any]  # depth, oldestAgeSeconds (None: unknown / empty), deadLetters
    recent: list[dict[str, Any]] = field(default_factory=list)  # local only
    dead_letters: list[dict[str, Any]] = field(default_factory=list)  # local only
    open_incidents: int | None = None  # Providers with fluxnotify.io/resolve: objects with open incidents

    def as_dict(self) -> dict[str, Any]:
        return {"objects": [o.as_dict() for o in self.objects], "queue": self.queue,
                "recent": self.recent, "deadLetters": self.dead_letters, "openIncidents": self.open_incidents}


# --------------------------------------------------------------------------- reading


def local_snapshot(db: SqliteDatabase, now: float | None = None, recent: int = 50) -> Snapshot:
    from fluxnotify.state.status_sqlite import SqliteStatus

    now = time.time() if now is None else now
    store = SqliteStatus(db)
    (depth, oldest), = db.execute("SELECT COUNT(*), MIN(sent_at) FROM messages WHERE queue = 'events'")
    letters = [_letter(row[0], row[1]) for row in
               db.execute("SELECT id, body FROM messages WHERE queue = 'dead' ORDER BY sent_at")]
    queue = {"depth": depth, "oldestAgeSeconds": None if oldest is None else max(0, round(now - oldest)),
             "deadLetters": len(letters)}
    return Snapshot(store.objects(now), queue, store.recent(recent), letters, _open_incidents(db, now))


def _open_incidents(db: SqliteDatabase, now: float) -> int:
    """Objects with open incidents (state/incidents.py); 0 before the first one (no table yet)."""
    try:
        return db.execute("SELECT COUNT(DISTINCT key) FROM incidents WHERE expires_at > ?", (now,))[0][0]
    except sqlite3.OperationalError:
        return 0


def _letter(message_id: str, body: str) -> dict[str, Any]:
    try:
        failed_at = json.loads(body).get("failed_at")
    except (ValueError, AttributeError):
        failed_at = None
    return {"id": message_id, **describe(body), "failedAt": failed_at}


def aws_snapshot(table: str | None, queue_url: str | None, dlq_url: str | None, *,
                 dynamodb=None, sqs=None, cloudwatch=None) -> Snapshot:
    """Raises botocore errors; the CLI turns them into one line."""
    import boto3

    from fluxnotify.state.status_dynamo import DynamoStatus

    objects = DynamoStatus(table, dynamodb or boto3.client("dynamodb")).objects() if table else []
    queue: dict[str, Any] = {"depth": None, "oldestAgeSeconds": None, "deadLetters": None}
    sqs = sqs or (boto3.client("sqs") if queue_url or dlq_url else None)
    if queue_url:
        attributes = _attributes(sqs, queue_url)
        queue["depth"] = sum(int(attributes.get(name, 0)) for name in (
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed"))
        queue["oldestAgeSeconds"] = _oldest_age(cloudwatch or boto3.client("cloudwatch"), queue_url)
    if dlq_url:
        queue["deadLetters"] = int(_attributes(sqs, dlq_url).get("ApproximateNumberOfMessages", 0))
    return Snapshot(objects, queue)


def _attributes(sqs, url: str) -> dict[str, str]:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def _oldest_age(cloudwatch, queue_url: str) -> float | None:
    """SQS has no queue attribute for it: the AWS/SQS metric of the last 10 minutes."""
    end = time.time()
    answer = cloudwatch.get_metric_statistics(
        Namespace="AWS/SQS", MetricName="ApproximateAgeOfOldestMessage",
        Dimensions=[{"Name": "QueueName", "Value": queue_url.rstrip("/").rsplit("/", 1)[-1]}],
        StartTime=end - 600, EndTime=end, Period=60, Statistics=["Maximum"])
    points = sorted(answer.get("Datapoints", []), key=lambda p: p["Timestamp"])
    return points[-1]["Maximum"] if points else None


# --------------------------------------------------------------------------- showing

_COLOURS = {DELIVERED: "32", SKIPPED: "36", "retrying": "33", DEAD_LETTERED: "31"}
_HEADER = ("KIND", "NAME", "TYPE", "LAST ATTEMPT", "OUTCOME", "1H ok/skip/fail", "24H ok/skip/fail",
           "LAST DELIVERED / LAST ERROR")


def counts_text(counts: dict[str, int]) -> str:
    failed = sum(counts.get(outcome, 0) for outcome in FAILURES)
    return f"{counts.get(DELIVERED, 0)}/{counts.get(SKIPPED, 0)}/{failed}"


def last_text(status: ObjectStatus) -> str:
    if status.failing:
        return f"error: {status.last_error or status.last_detail}"
    if status.delivered_at is None:
        return status.last_detail
    return f"{iso(status.delivered_at)} {status.delivered_object} {status.delivered_reason}"


def queue_text(queue: dict[str, Any]) -> str:
    def shown(value, unit=""):
        return "unknown" if value is None else f"{value}{unit}"

    waiting = "empty" if queue["depth"] == 0 else (
        f"{shown(queue['depth'])} message(s), oldest {shown(queue['oldestAgeSeconds'], ' s')}")
    return f"queue: {waiting}; dead letters: {shown(queue['deadLetters'])}"


def render_table(snapshot: Snapshot, colour: bool = False) -> str:
    rows = [_HEADER] + [
        (o.kind, o.key, o.provider_type, iso(o.last_at) or "-", o.last_outcome, counts_text(o.last_hour),
         counts_text(o.last_day), last_text(o))
        for o in snapshot.objects
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADER) - 1)]
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)] + [row[-1]]
        if colour and index:
            code = _COLOURS.get(row[4], "0")
            cells[4] = f"\033[{code}m{cells[4]}\033[0m"
            if row[4] in FAILURES:
                cells[-1] = f"\033[31m{cells[-1]}\033[0m"
        lines.append("  ".join(cells).rstrip())
    if not snapshot.objects:
        lines.append("(no delivery recorded yet)")
    lines.append(queue_text(snapshot.queue))
    return "\n".join(lines) + "\n"


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def status_command(read, *, output: str = "table", watch: bool = False, interval: float = 2.0,
                   out: TextIO | None = None) -> int:
    """Print the snapshot ``read()`` returns; with ``watch``, again every ``interval`` s until Ctrl-C."""
    out = out or sys.stdout
    colour = use_colour(out)
    try:
        while True:
            snapshot = read()
            text = (json.dumps(snapshot.as_dict(), indent=2) + "\n" if output == "json"
                    else render_table(snapshot, colour))
            if watch and colour:
                out.write("\033[H\033[2J")
            out.write(text)
            out.flush()
            if not watch:
                return 0
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0


# --------------------------------------------------------------------------- validate --from-aws


def delivering(condition: Condition, status: ObjectStatus | None) -> Condition:
    """The `Delivering` condition of one object, from its recorded outcomes."""
    from fluxnotify.ops.validate import Condition

    kind, key = condition.kind, condition.key
    if status is None or not status.last_outcome:
        return Condition(kind, key, False, "NoDelivery", "no delivery recorded", type="Delivering", unknown=True)
    if status.failing:
        reason = "DeadLettered" if status.last_outcome == DEAD_LETTERED else "Retrying"
        return Condition(kind, key, False, reason, f"{iso(status.last_at)}: {status.last_error}",
                         type="Delivering")
    if status.last_outcome == SKIPPED and status.delivered_at is None:
        return Condition(kind, key, True, "Skipped", status.last_detail, type="Delivering")
    message = f"last delivered {iso(status.delivered_at)}: {status.delivered_object} {status.delivered_reason}"
    return Condition(kind, key, True, "Succeeded", message, type="Delivering")


def with_delivering(found: list[Condition], statuses: list[ObjectStatus]) -> list[Condition]:
    """Each Ready condition followed by its object's Delivering condition."""
    by_subject = {(s.kind, s.key): s for s in statuses}
    result = []
    for condition in found:
        result.append(condition)
        if condition.kind in ("Provider", "Alert") and condition.type == "Ready":
            result.append(delivering(condition, by_subject.get((condition.kind, condition.key))))
    return result


# --------------------------------------------------------------------------- command line


STACK_OUTPUTS = {"state_table": "DedupTableName", "queue_url": "EventsQueueUrl", "dlq_url": "EventsDLQUrl"}
ENV = {"state_table": "STATE_TABLE", "queue_url": "QUEUE_URL", "dlq_url": "DLQ_URL"}


def add_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--db", help="the local stack's SQLite file (default: env FLUXNOTIFY_DB or fluxnotify.db)")
    source.add_argument("--from-aws", action="store_true", help="read the state table and SQS instead")
    source.add_argument("--stack", metavar="NAME",
                        help="read AWS: the state table and queues from this deployed stack's outputs")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table", help="output format")
    parser.add_argument("--watch", action="store_true", help="print again every --interval seconds until Ctrl-C")
    parser.add_argument("--interval", type=float, default=2.0, metavar="S", help="seconds between prints with --watch")
    parser.add_argument("--state-table", help="DynamoDB state table (default: the stack's, or env STATE_TABLE)")
    parser.add_argument("--queue-url", help="events queue (default: the stack's, or env QUEUE_URL)")
    parser.add_argument("--dlq-url", help="dead-letter queue (default: the stack's, or env DLQ_URL)")


def aws_locations(args, cloudformation=None) -> dict[str, str | None]:
    """The state table and queue URLs: a flag given, else the stack's output, else the env."""
    outputs: dict[str, str] = {}
    if getattr(args, "stack", None):
        import boto3

        cloudformation = cloudformation or boto3.client("cloudformation")
        (stack,) = cloudformation.describe_stacks(StackName=args.stack)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return {name: getattr(args, name, None) or outputs.get(STACK_OUTPUTS[name]) or os.environ.get(ENV[name])
            for name in STACK_OUTPUTS}


def run(args) -> int:
    """`fluxnotify status`: exit 0, or 2 with a one-line message when the store cannot be read."""
    if args.from_aws or getattr(args, "stack", None):
        from botocore.exceptions import BotoCoreError, ClientError

        errors: tuple = (BotoCoreError, ClientError)
        try:
            where = aws_locations(args)
        except errors as err:
            return _fail(f"status: stack {args.stack}: {err}")
        if not where["state_table"]:
            return _fail("status --from-aws needs --stack, --state-table or STATE_TABLE")

        def read() -> Snapshot:
            return aws_snapshot(where["state_table"], where["queue_url"], where["dlq_url"])
    else:
        path = args.db or os.environ.get("FLUXNOTIFY_DB") or "fluxnotify.db"
        if not os.path.exists(path):
            return _fail(f"{path}: no such local stack database")
        db = SqliteDatabase(path)
        errors = (OSError, sqlite3.Error)

        def read() -> Snapshot:
            return local_snapshot(db)
    try:
        return status_command(read, output=args.output, watch=args.watch, interval=args.interval)
    except errors as err:
        return _fail(f"status: {err}")


def stored_delivering(found: list[Condition], table: str | None) -> list[Condition]:
    """`validate --from-aws`: add Delivering conditions when a state table is known."""
    if not table:
        return found
    from botocore.exceptions import BotoCoreError, ClientError

    from fluxnotify.state.status_dynamo import DynamoStatus

    try:
        statuses = DynamoStatus(table).objects()
    except (BotoCoreError, ClientError) as err:
        raise RuntimeError(f"state table {table}: {err}") from err
    return with_delivering(found, statuses)


def _fail(message: str) -> int:
    print(f"fluxnotify: {message}", file=sys.stderr)
    return 2
