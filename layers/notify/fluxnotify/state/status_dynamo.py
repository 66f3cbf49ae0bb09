"""Delivery status in the DynamoDB state table (``STATE_TABLE``, ``pk`` prefix ``status#``).

Items, all with TTL ``expires_at``:

* ``status#obj#<Kind>#<namespace>/<name>``: the last attempt, last error, last delivered
  event (kept 30 days after the last write);
* ``status#cnt#<Kind>#<namespace>/<name>#<hour>``: one item per object and hour (epoch
  hours), one number attribute per 5-minute slot and outcome (``s07_delivered``), added to
  atomically (kept a day after the hour).

One message's outcomes are merged per object and written in ONE ``TransactWriteItems``
call (up to 100 updates; ``ADD`` for counters, which a BatchWriteItem cannot do), so the
dispatcher pays one round trip per message, not one per delivery. Reading (CLI only) is
one paginated Scan filtered on the prefix.
"""

from __future__ import annotations

import time
from typing import Any

from fluxnotify.metrics import Metrics
from fluxnotify.state.status import (
    DAY,
    HOUR,
    SLOT_SECONDS,
    Change,
    NullRecorder,
    ObjectStatus,
    Outcome,
    SafeRecorder,
    changes,
    sort_key,
    window_counts,
)

PREFIX = "status#"
OBJECT_TTL = 30 * DAY
MAX_ITEMS = 100  # TransactWriteItems limit


class DynamoStatus(SafeRecorder):
    def __init__(self, table: str, client: Any = None, metrics: Metrics | None = None):
        super().__init__(metrics)
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client
        self.table = table

    @classmethod
    def for_table(cls, table: str, metrics: Metrics | None = None, client: Any = None) -> DynamoStatus | NullRecorder:
        """The store for the dispatcher Lambda: the state table, or no status without one."""
        return cls(table, client, metrics=metrics) if table else NullRecorder()

    # --- write -----------------------------------------------------------------

    def write(self, outcomes: list[Outcome]) -> None:
        updates = [item for change in changes(outcomes) for item in self._updates(change)]
        for start in range(0, len(updates), MAX_ITEMS):
            chunk = [{"Update": update} for update in updates[start : start + MAX_ITEMS]]
            self._transact(chunk)

    def _transact(self, items: list[dict]) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as err:  # a concurrent writer of the same item: once more, then give up
            if err.response.get("Error", {}).get("Code") not in ("TransactionCanceledException",
                                                                 "TransactionConflictException"):
                raise
            self.client.transact_write_items(TransactItems=items)

    def _updates(self, change: Change) -> list[dict]:
        return [self._object_update(change), *self._count_updates(change)]

    def _object_update(self, change: Change) -> dict:
        last = change.last
        sets = {"kind": change.kind, "key": change.key, "last_at": last.at, "last_outcome": last.outcome,
                "last_detail": last.detail, "expires_at": int(last.at + OBJECT_TTL)}
        if last.provider_type:
            sets["provider_type"] = last.provider_type
        if change.error:
            sets.update(last_error=change.error.detail, last_error_at=change.error.at)
        if change.delivered:
            sets.update(delivered_at=change.delivered.at, delivered_object=change.delivered.object,
                        delivered_reason=change.delivered.reason)
        return self._update(f"{PREFIX}obj#{change.kind}#{change.key}", sets=sets)

    def _count_updates(self, change: Change) -> list[dict]:
        by_hour: dict[int, dict[str, int]] = {}
        for (slot, outcome), n in change.counts.items():
            hour = slot // HOUR
            slot_name = f"s{(slot % HOUR) // SLOT_SECONDS:02d}_{outcome}"
            by_hour.setdefault(hour, {})[slot_name] = n
        return [
            self._update(f"{PREFIX}cnt#{change.kind}#{change.key}#{hour}",
                         sets={"kind": change.kind, "key": change.key, "hour": hour,
                               "expires_at": (hour + 1) * HOUR + DAY},
                         adds=adds)
            for hour, adds in by_hour.items()
        ]

    def _update(self, pk: str, *, sets: dict[str, Any], adds: dict[str, int] | None = None) -> dict:
        names, values, set_parts, add_parts = {}, {}, [], []
        for index, (name, value) in enumerate(sets.items()):
            names[f"#s{index}"], values[f":s{index}"] = name, _attribute(value)
            set_parts.append(f"#s{index} = :s{index}")
        for index, (name, value) in enumerate((adds or {}).items()):
            names[f"#a{index}"], values[f":a{index}"] = name, _attribute(value)
            add_parts.append(f"#a{index} :a{index}")
        expression = "SET " + ", ".join(set_parts) + (" ADD " + ", ".join(add_parts) if add_parts else "")
        return {"TableName": self.table, "Key": {"pk": {"S": pk}}, "UpdateExpression": expression,
                "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}

    # --- read ------------------------------------------------------------------

    def objects(self, now: float | None = None) -> list[ObjectStatus]:
        now = time.time() if now is None else now
        found: dict[tuple[str, str], ObjectStatus] = {}
        counts: dict[tuple[str, str], list] = {}
        for item in self._scan():
            pk = item["pk"]
            subject = (item.get("kind", ""), item.get("key", ""))
            if pk.startswith(f"{PREFIX}obj#"):
                found[subject] = _object_status(item)
            elif pk.startswith(f"{PREFIX}cnt#") and item.get("hour", 0) * HOUR > now - DAY - HOUR:
                counts.setdefault(subject, []).extend(_slot_rows(item))
        for subject, status in found.items():
            status.last_hour, status.last_day = window_counts(counts.get(subject, []), now)
        return sorted(found.values(), key=sort_key)

    def _scan(self):
        paginator = self.client.get_paginator("scan")
        pages = paginator.paginate(TableName=self.table, FilterExpression="begins_with(pk, :p)",
                                   ExpressionAttributeValues={":p": {"S": PREFIX}})
        for page in pages:
            for item in page.get("Items", []):
                yield {name: _python(value) for name, value in item.items()}


def _attribute(value: Any) -> dict:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return {"S": str(value)}
    return {"N": repr(value) if isinstance(value, float) else str(value)}


def _python(value: dict) -> Any:
    if "N" in value:
        number = float(value["N"])
        return int(number) if number.is_integer() else number
    return value.get("S", "")


def _object_status(item: dict) -> ObjectStatus:
    return ObjectStatus(
        kind=item.get("kind", ""), key=item.get("key", ""), provider_type=item.get("provider_type", ""),
        last_at=item.get("last_at"), last_outcome=item.get("last_outcome", ""),
        last_detail=item.get("last_detail", ""), last_error=item.get("last_error", ""),
        last_error_at=item.get("last_error_at"), delivered_at=item.get("delivered_at"),
        delivered_object=item.get("delivered_object", ""), delivered_reason=item.get("delivered_reason", ""),
    )


def _slot_rows(item: dict) -> list[tuple[int, str, int]]:
    hour = int(item["hour"])
    rows = []
    for name, value in item.items():
        if name.startswith("s") and "_" in name and name[1:3].isdigit():
            slot, outcome = name[1:].split("_", 1)
            rows.append((hour * HOUR + int(slot) * SLOT_SECONDS, outcome, int(value)))
    return rows
