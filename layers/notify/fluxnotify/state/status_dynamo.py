"""Delivery status in the DynamoDB state table (``STATE_TABLE``, ``pk`` prefix ``status#``).

Items, all with TTL ``expires_at`` and ``status_part = "status"`` (the key of the keys-only
index ``status``, so reading status queries its few items instead of scanning the table):

* ``status#obj#<Kind>#<namespace>/<name>``: the last attempt, last error, last delivered
  event (kept 30 days after the last write);
* ``status#cnt#<Kind>#<namespace>/<name>#<hour>``: one item per object and hour (epoch
  hours), one number attribute per 5-minute slot and outcome (``s07_delivered``), added to
  atomically (kept a day after the hour).

Writing: per Provider or Alert, two plain UpdateItems, no transaction (``write_change``):
the counts with ``ADD`` (exact however many writers), the last-* fields with a condition
that keeps a newer value in place. The dispatcher Lambda batches them per invocation
(state/status_batch.py). An index entry is written only when an item is created: the
index's keys never change and it projects nothing else.
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
INDEX, PART = "status", "status"  # the index of status items and its one partition key value
BATCH_GET = 100  # BatchGetItem's limit


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
        for change in changes(outcomes):
            self.write_change(change)

    def write_change(self, change: Change) -> None:
        """One Provider's or Alert's change: its counts, then its last-* fields."""
        for update in self._count_updates(change):
            self.client.update_item(**update)
        self._write_object(change)

    def _write_object(self, change: Change) -> None:
        """Each group of last-* fields is set only over an older one (concurrent writers, any
        order): all groups in one conditional write, each on its own when one is older."""
        groups = _object_groups(change)
        try:
            self._set_if_newer(change, groups)
        except self.client.exceptions.ConditionalCheckFailedException:
            for group in groups:  # another writer was newer for some group: settle each
                try:
                    self._set_if_newer(change, [group])
                except self.client.exceptions.ConditionalCheckFailedException:
                    pass  # a newer one is stored: keep it

    def _set_if_newer(self, change: Change, groups: list[tuple[str, float, dict[str, Any]]]) -> None:
        sets: dict[str, Any] = {"kind": change.kind, "key": change.key}
        conditions, names, values = [], {}, {}
        for index, (stamp, at, fields) in enumerate(groups):
            sets.update(fields)
            names[f"#t{index}"], values[f":t{index}"] = stamp, _attribute(at)
            conditions.append(f"(attribute_not_exists(#t{index}) OR #t{index} <= :t{index})")
        update = self._update(f"{PREFIX}obj#{change.kind}#{change.key}", sets=sets)
        update["ExpressionAttributeNames"].update(names)
        update["ExpressionAttributeValues"].update(values)
        self.client.update_item(**update, ConditionExpression=" AND ".join(conditions))

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
        for index, (name, value) in enumerate({**sets, "status_part": PART}.items()):
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
        for item in self._items(now):
            pk = item["pk"]
            subject = (item.get("kind", ""), item.get("key", ""))
            if pk.startswith(f"{PREFIX}obj#"):
                found[subject] = _object_status(item)
            elif pk.startswith(f"{PREFIX}cnt#"):
                counts.setdefault(subject, []).extend(_slot_rows(item))
        for subject, status in found.items():
            status.last_hour, status.last_day = window_counts(counts.get(subject, []), now)
        return sorted(found.values(), key=sort_key)

    def _items(self, now: float):
        """The status items still shown: their keys from the index (only status items are
        in it), then the items themselves, skipping count hours older than a day."""
        keys = [pk for pk in self._keys() if pk.startswith(f"{PREFIX}obj#") or _hour(pk) * HOUR > now - DAY - HOUR]
        for start in range(0, len(keys), BATCH_GET):
            request = {self.table: {"Keys": [{"pk": {"S": pk}} for pk in keys[start:start + BATCH_GET]]}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    yield {name: _python(value) for name, value in item.items()}
                request = answer.get("UnprocessedKeys") or {}

    def _keys(self) -> list[str]:
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(TableName=self.table, IndexName=INDEX, KeyConditionExpression="status_part = :p",
                                   ExpressionAttributeValues={":p": {"S": PART}})
        return [item["pk"]["S"] for page in pages for item in page.get("Items", [])]


def _object_groups(change: Change) -> list[tuple[str, float, dict[str, Any]]]:
    """(timestamp field, time, fields) for each part of the object item this change sets."""
    last = change.last
    attempt = {"last_at": last.at, "last_outcome": last.outcome, "last_detail": last.detail,
               "expires_at": int(last.at + OBJECT_TTL)}
    if last.provider_type:
        attempt["provider_type"] = last.provider_type
    groups = [("last_at", last.at, attempt)]
    if change.error:
        groups.append(("last_error_at", change.error.at, {"last_error": change.error.detail,
                                                          "last_error_at": change.error.at}))
    if change.delivered:
        delivered = change.delivered
        groups.append(("delivered_at", delivered.at, {"delivered_at": delivered.at, "delivered_object": delivered.object,
                                                      "delivered_reason": delivered.reason}))
    return groups


def _hour(pk: str) -> int:
    try:
        return int(pk.rsplit("#", 1)[1])
    except (IndexError, ValueError):
        return 0


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
