"""Delivery status in the DynamoDB state table (``STATE_TABLE``, ``pk`` prefix ``status#``).

Status is written per (Alert, Provider) pair — a Flux Alert has one Provider, so per Alert —
and read back per Provider and per Alert by merging the pairs. Two items per pair, with TTL
``expires_at`` (30 days after the last write):

* the hour item ``status#pair#<alert>#<provider>#<epoch hour>``: that hour's counts, one
  number per 5-minute slot and outcome (``s07_delivered``, added to atomically), and the
  last attempt, last error and last delivered event written in that hour;
* the head ``status#pair#<alert>#<provider>``: the pair's newest hour and the last-* fields
  as they stood at the end of the hour before it, so a pair that has been quiet for days
  still shows its last error and delivery.

Writing, once per pair and invocation (state/status_batch.py merges a batch): one
UpdateItem of the hour item — counts with ``ADD``, last-* fields with a condition that
keeps a newer value in place (if it fails, the counts alone, then each part on its own). The
first writer of an hour (its ``ADD writes 1`` returns 1) moves the head on: it reads
the head and its previous hour item (eventually consistent, 0.5 RRU each) and writes the
head once. So a pair costs 1 WRU per invocation plus 1 WRU and 1 RRU per hour.

Reading queries the keys-only index ``status`` (hash ``status_part``, range ``pk``): the
heads have ``status_part = "status"``, the hour items ``status#<epoch day>``, so only the
last two days' hour items are listed; then it reads those items with BatchGetItem.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
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
    changes_by_pair,
    merge,
    rank,
    sort_key,
    window_counts,
)

PREFIX = "status#pair#"
KEPT = 30 * DAY
INDEX, HEAD_PART = "status", "status"  # the index of status items; the heads' partition in it
BATCH_GET = 100  # BatchGetItem's limit
DETAIL_CHARS = 300  # a detail longer than this is cut: items stay under 1 KB (1 WRU)
# Each group of last-* fields: (its time field, its fields).
GROUPS = (("last_at", ("last_at", "last_outcome", "last_detail", "provider_type")),
          ("last_error_at", ("last_error_at", "last_error")),
          ("delivered_at", ("delivered_at", "delivered_object", "delivered_reason")))


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

    changes = staticmethod(changes_by_pair)  # what BatchedStatus merges a batch into

    def write(self, outcomes: list[Outcome]) -> None:
        for change in changes_by_pair(outcomes):
            self.write_change(change)

    def write_change(self, change: Change) -> None:
        """One pair's change: its hour item (counts and last-* fields), and the head when
        this write opened a new hour."""
        hour = int(change.last.at // HOUR)
        counts = _counts_by_hour(change)
        for other_hour, adds in counts.items():  # a batch across an hour's end: the earlier hour
            if other_hour != hour and self._update(change, other_hour, adds):
                self._move_head(change, other_hour)
        if self._write_hour(change, hour, counts.get(hour, {})):
            self._move_head(change, hour)

    def _write_hour(self, change: Change, hour: int, adds: dict[str, int]) -> bool:
        """Counts and every last-* group in one conditional write; when a stored group is
        newer, the counts alone and then each group on its own. True if it created the item."""
        groups = _groups(change)
        try:
            return self._update(change, hour, adds, groups)
        except self.client.exceptions.ConditionalCheckFailedException:
            pass  # some stored group is newer
        created = self._update(change, hour, adds)
        for group in groups:
            try:
                self._update(change, hour, {}, [group])
            except self.client.exceptions.ConditionalCheckFailedException:
                pass  # a newer one is stored: keep it
        return created

    def _update(self, change: Change, hour: int, adds: dict[str, int],
                groups: Sequence[tuple[str, float, dict[str, Any]]] = ()) -> bool:
        alert, provider = change.key.split("#", 1)
        sets: dict[str, Any] = {"alert": alert, "provider": provider, "hour": hour,
                                "status_part": f"status#{hour // 24}", "expires_at": (hour + 1) * HOUR + KEPT}
        conditions = []
        for stamp, at, fields in groups:
            sets.update(fields)
            conditions.append((stamp, at))
        update = _update_item(self.table, f"{PREFIX}{alert}#{provider}#{hour}", sets, {**adds, "writes": 1}, conditions)
        answer = self.client.update_item(**update, ReturnValues="UPDATED_NEW")
        return answer.get("Attributes", {}).get("writes") == {"N": "1"}  # the first write of the hour

    def _move_head(self, change: Change, hour: int) -> None:
        """The head now points at ``hour`` and keeps the last-* fields of the hour before."""
        alert, provider = change.key.split("#", 1)
        head_key = f"{PREFIX}{alert}#{provider}"
        head = self._get(head_key)
        previous = head.get("latest_hour")
        fields = _newest_fields([head, self._get(f"{head_key}#{int(previous)}")] if previous is not None else [head])
        sets = {**fields, "alert": alert, "provider": provider, "latest_hour": hour, "status_part": HEAD_PART,
                "expires_at": int(time.time()) + KEPT}
        if change.last.provider_type:
            sets.setdefault("provider_type", change.last.provider_type)
        update = _update_item(self.table, head_key, sets, {}, [])
        update["ConditionExpression"] = "attribute_not_exists(latest_hour) OR latest_hour < :hour"
        update["ExpressionAttributeValues"][":hour"] = {"N": str(hour)}
        try:
            self.client.update_item(**update)
        except self.client.exceptions.ConditionalCheckFailedException:
            pass  # another writer moved it to this hour or a later one

    def _get(self, pk: str) -> dict[str, Any]:
        item = self.client.get_item(TableName=self.table, Key={"pk": {"S": pk}}).get("Item", {})
        return {name: _python(value) for name, value in item.items()}

    # --- read ------------------------------------------------------------------

    def objects(self, now: float | None = None) -> list[ObjectStatus]:
        """Every Provider and Alert with status: its pairs merged."""
        now = time.time() if now is None else now
        pairs: dict[tuple[str, str], list[dict]] = {}
        for item in self._items(now):
            pairs.setdefault((item.get("alert", ""), item.get("provider", "")), []).append(item)
        found: dict[tuple[str, str], ObjectStatus] = {}
        for (alert, provider), items in pairs.items():
            pair = _pair_status(items, now)
            for kind, key in (("Provider", provider), ("Alert", alert)):
                if key:
                    merge(found.setdefault((kind, key), ObjectStatus(kind=kind, key=key)), pair)
        return sorted(found.values(), key=sort_key)

    def _items(self, now: float):
        """The heads and the hour items of the last day (listed from the index), then the
        newest hour item of each pair that has none in the last day."""
        first_hour = int((now - DAY) // HOUR) - 1
        keys = self._keys(HEAD_PART)
        for day in range(first_hour // 24, int(now // DAY) + 1):
            keys += [pk for pk in self._keys(f"status#{day}") if _hour(pk) >= first_hour]
        fetched = list(self._batch_get(keys))
        have = {item["pk"] for item in fetched}
        older = {f"{item['pk']}#{int(item['latest_hour'])}" for item in fetched if "latest_hour" in item}
        yield from fetched
        yield from self._batch_get(sorted(older - have))

    def _batch_get(self, keys: list[str]):
        for start in range(0, len(keys), BATCH_GET):
            request = {self.table: {"Keys": [{"pk": {"S": pk}} for pk in keys[start:start + BATCH_GET]]}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    yield {name: _python(value) for name, value in item.items()}
                request = answer.get("UnprocessedKeys") or {}

    def _keys(self, part: str) -> list[str]:
        paginator = self.client.get_paginator("query")
        pages = paginator.paginate(TableName=self.table, IndexName=INDEX, KeyConditionExpression="status_part = :p",
                                   ExpressionAttributeValues={":p": {"S": part}})
        return [item["pk"]["S"] for page in pages for item in page.get("Items", [])]


def _counts_by_hour(change: Change) -> dict[int, dict[str, int]]:
    by_hour: dict[int, dict[str, int]] = {}
    for (slot, outcome), n in change.counts.items():
        slot_name = f"s{(slot % HOUR) // SLOT_SECONDS:02d}_{outcome}"
        by_hour.setdefault(slot // HOUR, {})[slot_name] = n
    return by_hour


def _groups(change: Change) -> list[tuple[str, float, dict[str, Any]]]:
    """(time field, time, fields) for each group of last-* fields this change sets."""
    last = change.last
    attempt = {"last_at": last.at, "last_outcome": last.outcome, "last_detail": last.detail[:DETAIL_CHARS]}
    if last.provider_type:
        attempt["provider_type"] = last.provider_type
    groups = [("last_at", last.at, attempt)]
    if change.error:
        groups.append(("last_error_at", change.error.at, {"last_error": change.error.detail[:DETAIL_CHARS],
                                                          "last_error_at": change.error.at}))
    if change.delivered:
        delivered = change.delivered
        groups.append(("delivered_at", delivered.at, {"delivered_at": delivered.at, "delivered_object": delivered.object,
                                                      "delivered_reason": delivered.reason}))
    return groups


def _update_item(table: str, pk: str, sets: dict[str, Any], adds: dict[str, int],
                 newer_than: list[tuple[str, float]]) -> dict:
    """An UpdateItem: SET ``sets``, ADD ``adds``, each (field, time) of ``newer_than`` only
    over an older or missing value."""
    names, values, set_parts, add_parts, conditions = {}, {}, [], [], []
    for index, (name, value) in enumerate(sets.items()):
        names[f"#s{index}"], values[f":s{index}"] = name, _attribute(value)
        set_parts.append(f"#s{index} = :s{index}")
    for index, (name, value) in enumerate(adds.items()):
        names[f"#a{index}"], values[f":a{index}"] = name, _attribute(value)
        add_parts.append(f"#a{index} :a{index}")
    for index, (name, at) in enumerate(newer_than):
        names[f"#t{index}"], values[f":t{index}"] = name, _attribute(at)
        conditions.append(f"(attribute_not_exists(#t{index}) OR #t{index} <= :t{index})")
    expression = "SET " + ", ".join(set_parts) + (" ADD " + ", ".join(add_parts) if add_parts else "")
    update = {"TableName": table, "Key": {"pk": {"S": pk}}, "UpdateExpression": expression,
              "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}
    if conditions:
        update["ConditionExpression"] = " AND ".join(conditions)
    return update


def _newest_fields(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Each group of last-* fields from the item where it is newest."""
    fields: dict[str, Any] = {}
    for stamp, names in GROUPS:
        holders = [item for item in items if item.get(stamp) is not None]
        if holders:
            newest = max(holders, key=lambda item: (item[stamp], rank(item.get("last_outcome", ""))))
            fields.update({name: newest[name] for name in names if name in newest})
    return fields


def _pair_status(items: list[dict[str, Any]], now: float) -> ObjectStatus:
    fields = _newest_fields(items)
    rows = [row for item in items if "hour" in item for row in _slot_rows(item)]
    status = ObjectStatus(kind="", key="", **{name: fields[name] for name in fields})
    status.last_hour, status.last_day = window_counts(rows, now)
    head = next((item for item in items if "latest_hour" in item), {})
    status.provider_type = status.provider_type or head.get("provider_type", "")
    status.provider = next((item.get("provider", "") for item in items), "")
    return status


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


def _slot_rows(item: dict) -> list[tuple[int, str, int]]:
    hour = int(item["hour"])
    rows = []
    for name, value in item.items():
        if name.startswith("s") and "_" in name and name[1:3].isdigit():
            slot, outcome = name[1:].split("_", 1)
            rows.append((hour * HOUR + int(slot) * SLOT_SECONDS, outcome, int(value)))
    return rows
