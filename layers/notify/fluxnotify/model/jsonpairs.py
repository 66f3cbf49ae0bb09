"""Decoded JSON as Go's encoding/json sees it: objects as key/value pairs, type names.

Shared by the event model (event.py) and its Event API v1 fields (eventv1.py).
"""

from __future__ import annotations

from functools import cache
from typing import Any


class EventError(ValueError):
    """An event that cannot be accepted; ``field`` names the offending JSON field."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def pairs(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """json.loads' object_pairs_hook."""
    return Pairs(items)


class Pairs(list):
    """A JSON object kept as its key/value pairs (order and duplicates preserved)."""


def as_pairs(value: Any, name: str) -> list[tuple[str, Any]]:
    if isinstance(value, Pairs):
        return value
    if isinstance(value, dict):
        return list(value.items())
    raise EventError(f"{name} must be a JSON object, got {json_type(value)}", name)


def string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise EventError(f"{name} must be a string, got {json_type(value)}", name)
    return value


def json_type(value: Any) -> str:
    if isinstance(value, (Pairs, dict)):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "string"


@cache  # a handful of field names, asked for on every event
def json_name(attr: str) -> str:
    head, *rest = attr.split("_")
    return head + "".join(part.title() for part in rest)


def reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def depth(value: Any, level: int = 1) -> int:
    if isinstance(value, Pairs):
        return max((depth(v, level + 1) for _, v in value), default=level)
    if isinstance(value, list):
        return max((depth(v, level + 1) for v in value), default=level)
    return level
