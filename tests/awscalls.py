"""Counts the AWS requests a boto3 session makes, in the units AWS bills them.

Hooks botocore's events on one session (the default boto3 session, where the Lambda
handlers' clients come from): ``before-parameter-build`` keeps each call's parameters,
``after-call`` records it once answered (errors included: AWS bills a failed conditional
write too). Units per call:

* DynamoDB writes: write units ``ceil(KB / 1)`` of the larger of the item before and after
  the write (how AWS sizes PutItem, UpdateItem and DeleteItem; a failed condition costs the
  existing item's size), at least 1; twice that for each item of a TransactWriteItems.
  The item before and after is read with ``inspect`` (``moto_items``: moto's own table, no
  request, so the handlers' measured durations stay their own).
* DynamoDB reads: read units ``ceil(KB / 4)`` of the item returned (at least 1), half for an
  eventually consistent read.
* SQS SendMessage: one request per 64 KB chunk of the message.
* everything else: one request.

``latency_ms`` holds each request that long before it is sent, standing in for the round
trip to an AWS endpoint (moto in-process answers in about a millisecond): concurrent
requests then overlap as they do on Lambda.

DynamoDB calls are labelled by the kind of item (the key's prefix: ``ledger``, ``status``;
a bare hash is a ``dedup`` key).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KB = 1024
SQS_CHUNK = 64 * KB
DYNAMO_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}


def attribute_size(value: dict) -> int:
    """Bytes of one DynamoDB attribute value, as AWS counts them for capacity."""
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "B":
        return len(data)
    if kind == "N":
        return number_size(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "BS", "NS"):
        return sum(attribute_size({kind[0]: member}) for member in data)
    if kind == "L":
        return 3 + sum(1 + attribute_size(member) for member in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + attribute_size(member) for name, member in data.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def number_size(text: str) -> int:
    """Up to 38 significant digits, two per byte, plus one byte."""
    digits = text.lower().split("e")[0].lstrip("+-").replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def item_size(item: dict | None) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in (item or {}).items())


def item_label(key: dict) -> str:
    pk = key.get("pk", {}).get("S", "")
    return pk.split("#", 1)[0] if "#" in pk else "dedup"


@dataclass
class Call:
    service: str
    operation: str
    phase: str
    label: str = ""
    units: float = 1.0  # write units, read units, SQS chunks or requests
    unit: str = "requests"
    error: str = ""  # the error code of a refused request (billed all the same)


Inspect = Callable[[str, dict], "dict | None"]  # (table, key) → the item, or None


def moto_items(lock: Any = None, account: str = "123456789012", region: str | None = None) -> Inspect:
    """Reads an item straight from moto's in-process DynamoDB (no request, nothing counted);
    ``lock``: the one moto's requests hold, if any (moto's tables are not thread-safe)."""
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[account][region or os.environ["AWS_DEFAULT_REGION"]]

    def read(table: str, key: dict) -> dict | None:
        with lock or contextlib.nullcontext():
            item = backend.get_item(table, key)
            return item.to_json()["Attributes"] if item is not None else None

    return read


class AwsCalls:
    """``calls``: every request made through ``session``'s clients created after ``install``."""

    def __init__(self, session: Any, inspect: Inspect, latency_ms: float = 0.0):
        self.session = session
        self.inspect = inspect
        self.latency = latency_ms / 1000
        self.calls: list[Call] = []
        self.phase = ""
        self._lock = threading.Lock()

    def install(self) -> AwsCalls:
        self.session.events.register("before-parameter-build", self._before)
        self.session.events.register("after-call", self._after)
        if self.latency:
            self.session.events.register("before-call", self._wait)
        return self

    def requests(self, phase: str | None = None) -> int:
        return len(self._select(phase, {}))

    def count(self, phase: str | None = None, **match: str) -> Counter:
        """``{(service, operation): calls}`` of one phase (default: all)."""
        return Counter((c.service, c.operation) for c in self._select(phase, match))

    def units(self, phase: str | None = None, **match: str) -> float:
        return sum(c.units for c in self._select(phase, match))

    def _select(self, phase: str | None, match: dict[str, str]) -> list[Call]:
        return [c for c in self.calls if (phase is None or c.phase == phase)
                and all(getattr(c, k) == v for k, v in match.items())]

    # --- hooks ----------------------------------------------------------------------

    def _wait(self, **_: Any) -> None:
        time.sleep(self.latency)

    def _before(self, params: dict, model: Any, context: dict, **_: Any) -> None:
        context["cost_params"] = params
        if model.service_model.service_name == "dynamodb" and model.name in DYNAMO_WRITES | {"TransactWriteItems"}:
            context["cost_before"] = [self._current(key) for key in _written_keys(model.name, params)]

    def _after(self, http_response: Any, parsed: dict, model: Any, context: dict, **_: Any) -> None:
        service, operation = model.service_model.service_name, model.name
        params = context.get("cost_params", {})
        if service == "dynamodb":
            calls = self._dynamodb(operation, params, parsed, context.get("cost_before", []))
        elif service == "sqs" and operation == "SendMessage":
            size = len(params.get("MessageBody", "").encode())
            calls = [Call(service, operation, self.phase, units=max(1, math.ceil(size / SQS_CHUNK)), unit="chunks")]
        elif service == "ssm" and operation == "GetParameter" and params.get("WithDecryption"):
            calls = [Call(service, operation, self.phase, "secret")]  # a SecureString: one KMS decrypt too
        else:
            calls = [Call(service, operation, self.phase)]
        for call in calls:
            call.error = parsed.get("Error", {}).get("Code", "")
        with self._lock:
            self.calls.extend(calls)

    def _dynamodb(self, operation: str, params: dict, parsed: dict, before: list[tuple[dict, int]]) -> list[Call]:
        failed = "Error" in parsed
        if operation in DYNAMO_WRITES | {"TransactWriteItems"}:
            factor = 2 if operation == "TransactWriteItems" else 1
            units = 0
            for key, old in before:
                new = old if failed or operation == "DeleteItem" else self._current(key)[1]
                units += factor * max(1, math.ceil(max(old, new) / KB))
            label = item_label(before[0][0]["key"]) if before else ""
            return [Call("dynamodb", operation, self.phase, label, units, "WRU")]
        if operation == "GetItem":
            size = item_size(parsed.get("Item"))
            units = max(1, math.ceil(size / (4 * KB))) * (1 if params.get("ConsistentRead") else 0.5)
            return [Call("dynamodb", operation, self.phase, item_label(params["Key"]), units, "RRU")]
        return [Call("dynamodb", operation, self.phase)]

    def _current(self, key: dict) -> tuple[dict, int]:
        return key, item_size(self.inspect(key["table"], key["key"]))


def _written_keys(operation: str, params: dict) -> list[dict]:
    """The (table, key) of each item a write touches."""
    if operation == "TransactWriteItems":
        found = []
        for entry in params.get("TransactItems", []):
            (_, action), = entry.items()
            found.append({"table": action["TableName"], "key": _key(action)})
        return found
    return [{"table": params["TableName"], "key": _key(params)}]


def _key(action: dict) -> dict:
    return action.get("Key") or {"pk": action["Item"]["pk"]}
