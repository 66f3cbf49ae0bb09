"""The Flux event model (spec §1): parsing, validation and Go-JSON output.

Parsing follows Go's ``encoding/json`` as notification-controller uses it:
object keys match fields case-insensitively, the last duplicate wins, unknown
keys are ignored and ``null`` leaves a field empty. Type errors name the field.
The semantic checks of fluxnotify's ingress (DESIGN.md "Ingress") are a
separate step, :func:`validate_event`, so that ``render`` can stay lenient.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from fluxnotify.model import eventv1, gojson
from fluxnotify.model import jsonpairs as jp
from fluxnotify.model.jsonpairs import EventError

EVENT_GROUP_PREFIX = "event.toolkit.fluxcd.io/"
SEVERITIES = ("trace", "info", "error")
MAX_DEPTH = 32

_OBJREF_FIELDS = {
    "kind": "kind",
    "namespace": "namespace",
    "name": "name",
    "uid": "uid",
    "apiversion": "api_version",
    "resourceversion": "resource_version",
    "fieldpath": "field_path",
}
_OBJREF_JSON_KEYS = (
    ("kind", "kind"),
    ("namespace", "namespace"),
    ("name", "name"),
    ("uid", "uid"),
    ("api_version", "apiVersion"),
    ("resource_version", "resourceVersion"),
    ("field_path", "fieldPath"),
)
_EVENT_FIELDS = {
    "involvedobject": "involved_object",
    "severity": "severity",
    "timestamp": "timestamp",
    "message": "message",
    "reason": "reason",
    "metadata": "metadata",
    "reportingcontroller": "reporting_controller",
    "reportinginstance": "reporting_instance",
    "action": "action",  # Event API v1 (eventv1.py)
    "relatedobject": "related_object",
}
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})\Z",
    re.ASCII,
)
_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ObjectRef:
    kind: str = ""
    namespace: str = ""
    name: str = ""
    uid: str = ""
    api_version: str = ""
    resource_version: str = ""
    field_path: str = ""

    @property
    def group(self) -> str:
        """The API group: the part of apiVersion before its only '/' (spec §1.1)."""
        parts = self.api_version.split("/")
        return parts[0] if len(parts) == 2 else ""

    def to_dict(self) -> dict[str, str]:
        return {key: getattr(self, attr) for attr, key in _OBJREF_JSON_KEYS if getattr(self, attr)}


@dataclass(frozen=True)
class Event:
    involved_object: ObjectRef = field(default_factory=ObjectRef)
    severity: str = ""
    timestamp: datetime | None = None
    message: str = ""
    reason: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    reporting_controller: str = ""
    reporting_instance: str = ""
    action: str = ""
    related_object: ObjectRef | None = None

    @property
    def group(self) -> str:
        return self.involved_object.group

    def with_metadata(self, metadata: dict[str, str]) -> Event:
        return replace(self, metadata=metadata)

    def timestamp_text(self) -> str | None:
        """RFC 3339 in UTC with second precision, or None for a zero time."""
        if self.timestamp is None:
            return None
        return self.timestamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def to_dict(self) -> dict[str, Any]:
        """The event as Go serialises it: field order, omissions, sorted metadata."""
        data: dict[str, Any] = {
            "involvedObject": self.involved_object.to_dict(),
            "severity": self.severity,
            "timestamp": self.timestamp_text(),
            "message": self.message,
            "reason": self.reason,
        }
        if self.metadata:
            data["metadata"] = gojson.go_sorted(self.metadata)
        data["reportingController"] = self.reporting_controller
        if self.reporting_instance:
            data["reportingInstance"] = self.reporting_instance
        if self.action:  # Event API v1: omitempty, after the existing fields (eventv1.py)
            data["action"] = self.action
        if self.related_object is not None:
            data["relatedObject"] = self.related_object.to_dict()
        return data

    def go_json(self) -> str:
        """Byte-exact Go-JSON of the event (spec §1.4), encoded once per Event object
        (the object is frozen; providers sharing it share the text)."""
        text = self.__dict__.get("_go_json")
        if text is None:
            text = gojson.dumps_text(self.to_dict())  # strings and objects only
            object.__setattr__(self, "_go_json", text)
        return text


def parse_event(body: bytes | str) -> Event:
    """Decode an event as a Flux controller posts it; raise EventError naming the problem."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not body.strip():
        raise EventError("request body is empty")
    try:
        data = json.loads(body, object_pairs_hook=jp.pairs, parse_constant=jp.reject_constant)
    except RecursionError:
        raise EventError("JSON is nested too deeply") from None
    except ValueError as err:
        raise EventError(f"body is not valid JSON: {err}") from None
    if jp.depth(data) > MAX_DEPTH:
        raise EventError(f"JSON is nested deeper than {MAX_DEPTH} levels")
    return event_from_data(data)


def event_from_data(data: Any) -> Event:
    """Build an Event from decoded JSON (pairs lists as produced by parse_event, or dicts)."""
    pairs = jp.as_pairs(data, "event")
    values: dict[str, Any] = {}
    for key, value in pairs:
        attr = _EVENT_FIELDS.get(key.lower())
        if attr is None or value is None:
            continue  # Go: unknown keys are ignored and null leaves a field as it was
        values[attr] = _convert(attr, value)
    return Event(**values)


def _convert(attr: str, value: Any) -> Any:
    json_name = jp.json_name(attr)
    if attr in ("involved_object", "related_object"):
        return _object_ref(value, json_name)
    if attr == "action":
        return eventv1.parse_action(value)
    if attr == "metadata":
        return _metadata(value)
    if attr == "timestamp":
        return parse_timestamp(jp.string(value, json_name))
    return jp.string(value, json_name)


def _object_ref(value: Any, name: str) -> ObjectRef:
    refs: dict[str, str] = {}
    for key, item in jp.as_pairs(value, name):
        attr = _OBJREF_FIELDS.get(key.lower())
        if attr is None:
            continue
        if item is None:
            continue
        refs[attr] = jp.string(item, f"{name}.{key}")
    return ObjectRef(**refs)


def _metadata(value: Any) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, item in jp.as_pairs(value, "metadata"):
        if item is None:
            # Go decodes null into a map[string]string entry as "".
            result[key] = ""
            continue
        result[key] = jp.string(item, f"metadata[{key!r}]")
    return result


def parse_timestamp(text: str) -> datetime | None:
    match = _RFC3339.match(text)
    if not match:
        raise EventError(f"timestamp {text!r} is not an RFC 3339 time", "timestamp")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = (match.group(7) or "").ljust(6, "0")[:6]
    zone = match.group(8)
    if zone == "Z":
        tz = UTC
    else:
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            raise EventError(f"timestamp {text!r} has an invalid time zone offset", "timestamp")
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        stamp = datetime(year, month, day, hour, minute, second, int(fraction), tzinfo=tz)
        stamp.astimezone(UTC)  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
    except (ValueError, OverflowError):
        raise EventError(f"timestamp {text!r} is not a valid date and time", "timestamp") from None
    return None if stamp == _ZERO_TIME else stamp


def validate_event(event: Event) -> None:
    """fluxnotify's ingress checks (DESIGN.md "Ingress"), beyond the reference's leniency."""
    ref = event.involved_object
    for attr in ("kind", "name", "namespace"):
        if not getattr(ref, attr):
            raise EventError(f"involvedObject.{attr} is required", f"involvedObject.{attr}")
    if event.severity not in SEVERITIES:
        raise EventError(
            f"severity {event.severity!r} is not one of trace, info, error", "severity"
        )


# --- spec §2.4 steps A/B and §2.6: at the door ------------------------------------------------


def clean_metadata(event: Event) -> Event:
    """Step A: keep event-group and object-group keys, minus checksum/digest."""
    group_prefix = event.group + "/"
    dropped = {(group_prefix + "checksum").lower(), (group_prefix + "digest").lower()}
    kept = {
        key: value
        for key, value in event.metadata.items()
        if (key.startswith(EVENT_GROUP_PREFIX) or key.startswith(group_prefix))
        and key.lower() not in dropped
    }
    return event.with_metadata(kept)


def strip_internal(event: Event) -> Event:
    """Step B: the emitter's uniqueness token never reaches providers."""
    token_key = event.group + "/token"
    if token_key not in event.metadata:
        return event
    return event.with_metadata({k: v for k, v in event.metadata.items() if k != token_key})
