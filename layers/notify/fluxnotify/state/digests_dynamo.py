"""Digest windows in DynamoDB (STATE_TABLE, DESIGN.md shared contract 2; state/digests.py).

Small items, so that a gathered event costs a few write units whatever the window holds:

* ``digest#<key>``: the open window's head — window id, due, count, errors (the count of
  error events), opener and, for a long window, ``digest_sweep`` = "digest" and
  ``digest_due`` (the keys of the sparse index DUE_INDEX). Under 1 KB with the longest names.
* ``digest#<window>#<n>``: line n (1 to MAX_ENTRIES) of the window, its slot the count the
  head's update returned; line 1 (written by the opener) also holds the bounded first event,
  the alert and the cluster.
* ``digest#seen#<hash of key and message id>``: a message was gathered into the key's
  windows. Put only if absent, before the head's count: a redelivered message finds it and
  is counted once, exactly, however many events came between.
* ``digest#<key>#<window>``: the window once closed (state, lease), small like the head.

So an event costs a marker, the head's update and its line: 3 write units (2 once the
window holds MAX_ENTRIES lines). ``close`` reads the lines by their known slots
(BatchGetItem). Every item expires (``expires_at``) a week after its window's due time;
nothing is deleted one by one.

Failure: if the head's update fails, the marker is taken back (the redelivered message is
counted then); a dispatcher killed between the two writes leaves that one event out. A line
written after its window closed (an event racing the flush) is counted but not listed.

Windows of the previous release (one item with ``entries``, ``ids`` and ``base``) are
closed and sent with what they hold plus the lines added since.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fluxnotify.state.digests_window import (
    DUE_INDEX,
    KEEP_SECONDS,
    LEASE_SECONDS,
    MAX_ENTRIES,
    Entry,
    FlushBusy,
    Window,
    bounded,
    id_hash,
    message_key,
    swept,
)

BATCH = 100  # keys per BatchGetItem
CLOSE_TRIES = 5  # a close races the window's adds: read again and retry


def head_key(key: str) -> dict:
    return {"pk": {"S": f"digest#{key}"}}


def closed_key(key: str, window: str) -> dict:
    return {"pk": {"S": f"digest#{key}#{window}"}}


def line_key(window: str, slot: int) -> dict:
    return {"pk": {"S": f"digest#{window}#{slot}"}}


def alert_of(key: str) -> str:
    """The Alert of a digest key, ``<alert>|<provider>`` (delivery/stages/digests.py)."""
    return key.split("|", 1)[0]


def marker_key(key: str, message_id: str) -> dict:
    return {"pk": {"S": "digest#seen#" + id_hash(f"{key}\0{message_id}", 32)}}


class DynamoDigests:
    """Conditional writes and one transaction per close, so concurrent dispatchers agree."""

    def __init__(self, table: str, client: Any = None):
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client
        self.table = table

    def add(self, entry: Entry, now: float | None = None) -> Window:
        now = time.time() if now is None else now
        entry = bounded(entry)
        if not self._mark(entry, now):  # a redelivered message: counted once
            return self._again(entry)
        try:
            head = self.client.update_item(TableName=self.table, Key=head_key(entry.key), ReturnValues="ALL_NEW",
                                           **_count(entry, now))["Attributes"]
        except Exception:
            self._unmark(entry)  # not counted: the redelivered message will be
            raise
        window = _head_window(entry, head)
        if window.count <= MAX_ENTRIES:
            self._put_line(entry, window, window.count)
        return window

    def close(self, key: str, window: str, now: float | None = None) -> Window | None:
        now = time.time() if now is None else now
        for _ in range(CLOSE_TRIES):
            current = self.client.get_item(TableName=self.table, Key=head_key(key), ConsistentRead=True).get("Item")
            if current is None or current["window"]["S"] != window:
                break
            closed = {**current, **closed_key(key, window), "state": {"S": "closed"}, "closed_at": {"N": repr(now)}}
            for name in ("ids", "ids_old", "digest_sweep", "digest_due"):
                closed.pop(name, None)  # idempotency is the markers'; out of the sweep's index
            try:
                self.client.transact_write_items(TransactItems=[
                    {"Delete": {"TableName": self.table, "Key": head_key(key),
                                "ConditionExpression": "#w = :w AND #c = :c",
                                "ExpressionAttributeNames": {"#w": "window", "#c": "count"},
                                "ExpressionAttributeValues": {":w": {"S": window}, ":c": current["count"]}}},
                    {"Put": {"TableName": self.table, "Item": closed,
                             "ConditionExpression": "attribute_not_exists(pk)"}},
                ])
                return self._filled(key, closed)
            except self.client.exceptions.TransactionCanceledException:
                continue  # an event joined meanwhile (read again) or another flush closed it
        else:
            raise FlushBusy(5)  # events keep joining: the flush message comes back in a moment
        return self._reclaim(key, window, now)

    def _reclaim(self, key: str, window: str, now: float) -> Window | None:
        """The closed window again, once the lease of the flush that closed it has passed."""
        item = self.client.get_item(TableName=self.table, Key=closed_key(key, window), ConsistentRead=True).get("Item")
        if item is None or item["state"]["S"] != "closed":
            return None
        claimed = item["closed_at"]
        if now - float(claimed["N"]) < LEASE_SECONDS:
            raise FlushBusy(LEASE_SECONDS - (now - float(claimed["N"])))
        try:  # take the lease over from a flush that died
            self.client.update_item(
                TableName=self.table, Key=closed_key(key, window), UpdateExpression="SET closed_at = :now",
                ConditionExpression="closed_at = :old",
                ExpressionAttributeValues={":now": {"N": repr(now)}, ":old": claimed})
        except self.client.exceptions.ConditionalCheckFailedException:
            raise FlushBusy(LEASE_SECONDS) from None
        return self._filled(key, item)

    def release(self, key: str, window: str) -> None:
        self.client.update_item(TableName=self.table, Key=closed_key(key, window),
                                UpdateExpression="SET closed_at = :zero", ExpressionAttributeValues={":zero": {"N": "0"}})

    def mark_sent(self, key: str, window: str) -> None:
        self.client.update_item(
            TableName=self.table, Key=closed_key(key, window),
            UpdateExpression="SET #s = :sent REMOVE #e, #b",  # entries, base: a previous release's window
            ExpressionAttributeNames={"#s": "state", "#e": "entries", "#b": "base"},
            ExpressionAttributeValues={":sent": {"S": "sent"}},
        )

    def due(self, until: float) -> list[Window]:
        found, start = [], {}
        while True:
            page = self.client.query(
                TableName=self.table, IndexName=DUE_INDEX, **start,
                KeyConditionExpression="digest_sweep = :digest AND digest_due <= :until",
                ExpressionAttributeValues={":digest": {"S": "digest"}, ":until": {"N": repr(until)}})
            for item in page["Items"]:
                key = item["pk"]["S"].removeprefix("digest#")
                alert = item.get("alert", {"S": alert_of(key)})["S"]  # a previous release's head has it
                found.append(Window(key, item["window"]["S"], alert, "", float(item["digest_due"]["N"])))
            if "LastEvaluatedKey" not in page:
                return found
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    def swept(self, key: str, window: str) -> None:
        try:
            self.client.update_item(
                TableName=self.table, Key=head_key(key), ConditionExpression="#w = :w",
                UpdateExpression="REMOVE digest_sweep, digest_due", ExpressionAttributeNames={"#w": "window"},
                ExpressionAttributeValues={":w": {"S": window}})
        except self.client.exceptions.ConditionalCheckFailedException:
            pass  # closed meanwhile: the closed item is not in the index

    # --- add ------------------------------------------------------------------------------

    def _mark(self, entry: Entry, now: float) -> bool:
        """Put the message's marker; False when it was there (a redelivered message)."""
        expires = int(now + entry.seconds + KEEP_SECONDS)  # outlives any window it was counted in
        try:
            self.client.put_item(TableName=self.table, ConditionExpression="attribute_not_exists(pk)",
                                 Item={**marker_key(entry.key, entry.message_id), "expires_at": {"N": str(expires)}})
            return True
        except self.client.exceptions.ConditionalCheckFailedException:
            return False

    def _unmark(self, entry: Entry) -> None:
        try:
            self.client.delete_item(TableName=self.table, Key=marker_key(entry.key, entry.message_id))
        except Exception:  # noqa: BLE001 - the write that failed is the error to report
            pass

    def _again(self, entry: Entry) -> Window:
        """The open window, for a message already gathered: its opener queues the flush again
        (and writes the first line again, in case it died before)."""
        head = self.client.get_item(TableName=self.table, Key=head_key(entry.key), ConsistentRead=True).get("Item")
        if head is None:
            return Window(entry.key, "", entry.alert, entry.cluster, 0.0)
        window = _head_window(entry, head)
        if window.opener == message_key(entry.message_id) and "entries" not in head:
            self._put_line(entry, window, 1)
        return window

    def _put_line(self, entry: Entry, window: Window, slot: int) -> None:
        item = {**line_key(window.window, slot), "t": {"S": entry.timestamp}, "line": {"S": entry.line},
                "expires_at": {"N": str(int(window.due + KEEP_SECONDS))}}
        if slot == 1:  # the opener's: what names the digest
            item |= {"base": {"S": json.dumps(entry.base, ensure_ascii=False)}, "alert": {"S": entry.alert},
                     "cluster": {"S": entry.cluster}}
        self.client.put_item(TableName=self.table, Item=item)

    # --- close ----------------------------------------------------------------------------

    def _filled(self, key: str, item: dict) -> Window:
        """The closed window with its lines and first event (and a previous release's entries)."""
        window = item["window"]["S"]
        count = int(item["count"]["N"])
        lines = self._lines(window, min(count, MAX_ENTRIES))
        first = lines.get(1, {})
        entries = [json.loads(e["S"]) for e in item.get("entries", {"L": []})["L"]]
        entries += [{"t": lines[n]["t"]["S"], "line": lines[n]["line"]["S"]} for n in sorted(lines)]
        base = item.get("base") or first.get("base")
        alert = item.get("alert") or first.get("alert") or {"S": alert_of(key)}
        cluster = item.get("cluster") or first.get("cluster") or {"S": ""}
        return Window(key=key, window=window, alert=alert["S"], cluster=cluster["S"], due=float(item["due"]["N"]),
                      count=count, severity=_severity(item), entries=entries,
                      base=json.loads(base["S"]) if base else {}, opener=item["opener"]["S"])

    def _lines(self, window: str, slots: int) -> dict[int, dict]:
        """Lines 1..slots by number (BatchGetItem, BATCH keys a request); a missing one is left out."""
        found: dict[int, dict] = {}
        keys = [line_key(window, n) for n in range(1, slots + 1)]
        for start in range(0, len(keys), BATCH):
            request = {self.table: {"Keys": keys[start:start + BATCH], "ConsistentRead": True}}
            for _ in range(10):
                answer = self.client.batch_get_item(RequestItems=request)
                for item in answer["Responses"].get(self.table, []):
                    found[int(item["pk"]["S"].rsplit("#", 1)[1])] = item
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"digest window {window}: its lines could not be read; try again")
        return found


def _count(entry: Entry, now: float) -> dict:
    """The head's UpdateItem: the window's fields if it is new, one more event, one more error."""
    due = now + entry.seconds
    fields = {"window": {"S": uuid.uuid4().hex}, "due": {"N": repr(due)},
              "opener": {"S": message_key(entry.message_id)}, "expires_at": {"N": str(int(due + KEEP_SECONDS))}}
    if swept(entry.seconds):  # the keys of the sweep's index
        fields |= {"digest_sweep": {"S": "digest"}, "digest_due": {"N": repr(due)}}
    # Every attribute through a name placeholder: several (count, window…) are reserved words.
    names = {f"#{name}": name for name in (*fields, "count", "errors")}
    values = {f":{name}": value for name, value in fields.items()}
    values |= {":one": {"N": "1"}, ":err": {"N": "1" if entry.severity == "error" else "0"}}
    sets = ", ".join(f"#{name} = if_not_exists(#{name}, :{name})" for name in fields)
    return {"UpdateExpression": f"SET {sets} ADD #count :one, #errors :err",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}


def _head_window(entry: Entry, item: dict) -> Window:
    return Window(key=entry.key, window=item["window"]["S"], alert=entry.alert, cluster=entry.cluster,
                  due=float(item["due"]["N"]), count=int(item["count"]["N"]), severity=_severity(item),
                  opener=item["opener"]["S"])


def _severity(item: dict) -> str:
    return "error" if int(item.get("errors", {"N": "0"})["N"]) else "info"
