"""The spec of a Provider and of an Alert as the rest of the package reads it: plain frozen
dataclasses, the same field names as the validating models of model/specs.py.

Validation (pydantic, model/specs.py) costs its import and model building, 120–200 ms of a
Lambda cold start; the dispatcher only reads specs that ``fluxnotify import`` validated
before it stored them. So:

* ``from_model`` turns a validated model into these classes (every path that validates);
* ``from_stored`` builds them straight from the stored form (``as_dict``'s output), checking
  every field's type and limit as the model does, and answers None for anything else (an
  unknown field, a value the model would coerce or refuse): the caller then validates it
  with the model, so what is refused, and how, is exactly what the model says;
* ``dump`` gives the stored form (camelCase, defaults left out), as the model dumps it.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class LocalRef:
    name: str


@dataclass(frozen=True)
class EventSource:
    kind: str
    name: str
    namespace: str = ""
    match_labels: dict[str, str] | None = None
    api_version: str = ""


@dataclass(frozen=True)
class AlertSpec:
    provider_ref: LocalRef
    event_severity: str = "info"
    event_sources: list[EventSource] = field(kw_only=True)  # required, as in the model
    inclusion_list: list[str] = field(default_factory=list)
    exclusion_list: list[str] = field(default_factory=list)
    event_metadata: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    suspend: bool = False


@dataclass(frozen=True)
class ProviderSpec:
    type: str
    channel: str = ""
    username: str = ""
    address: str = ""
    timeout: str = ""
    proxy: str = ""
    proxy_secret_ref: LocalRef | None = None
    secret_ref: LocalRef | None = None
    cert_secret_ref: LocalRef | None = None
    service_account_name: str = ""
    suspend: bool = False
    commit_status_expr: str = ""


# The limits of model/specs.py (tests/unit/model/test_specdata.py checks they agree):
# field → (min length, max length) of a string or list.
LIMITS: dict[type, dict[str, tuple[int, int | None]]] = {
    LocalRef: {"name": (1, None)},
    EventSource: {"name": (1, 253)},
    AlertSpec: {"event_sources": (1, None), "summary": (0, 255)},
    ProviderSpec: {"type": (1, None), "channel": (0, 2048), "username": (0, 2048), "address": (0, 2048),
                   "proxy": (0, 2048)},
}
_REFS = ("proxy_secret_ref", "secret_ref", "cert_secret_ref", "provider_ref")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


# --- from a validated model ------------------------------------------------------------


def from_model(model: Any) -> AlertSpec | ProviderSpec:
    """The dataclass of a validated model/specs.py AlertSpec or ProviderSpec."""
    values = {name: getattr(model, name) for name in model.__class__.model_fields}
    for name in _REFS:
        if values.get(name) is not None:
            values[name] = LocalRef(values[name].name)
    if "event_sources" in values:
        values["event_sources"] = [EventSource(s.kind, s.name, s.namespace, s.match_labels, s.api_version)
                                   for s in values["event_sources"]]
        return AlertSpec(**values)
    return ProviderSpec(**values)


# --- from the stored form ----------------------------------------------------------------


class _NotCanonical(Exception):
    """Not as ``dump`` writes a valid spec: the model decides."""


def from_stored(kind: str, spec: Any) -> AlertSpec | ProviderSpec | None:
    """The spec of a stored Provider or Alert without the model, or None when the model must
    look at it (see the module's docstring)."""
    try:
        return _build(ProviderSpec if kind == "Provider" else AlertSpec, spec)
    except _NotCanonical:
        return None


def _build(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise _NotCanonical
    known = {camel(f.name): f.name for f in fields(cls)}
    if not data.keys() <= known.keys():
        raise _NotCanonical  # unknown fields: the model's walk names them (warnings)
    values = {known[key]: _value(cls, known[key], value) for key, value in data.items()}
    for name, (low, high) in LIMITS.get(cls, {}).items():
        length = len(values.get(name, ()))
        if length < low or (high is not None and length > high):
            raise _NotCanonical
    try:
        return cls(**values)
    except TypeError:  # a required field is missing
        raise _NotCanonical from None


def _value(cls: type, name: str, value: Any) -> Any:
    if name in _REFS:
        return None if value is None and name != "provider_ref" else _build(LocalRef, value)
    if name == "event_sources":
        if not isinstance(value, list):
            raise _NotCanonical
        return [_build(EventSource, item) for item in value]
    if name == "match_labels" and value is None:
        return None
    if name in ("match_labels", "event_metadata"):
        return _string_map(value)
    if name in ("inclusion_list", "exclusion_list"):
        if not isinstance(value, list) or not all(type(item) is str for item in value):
            raise _NotCanonical
        return list(value)
    if name == "suspend":
        if type(value) is not bool:
            raise _NotCanonical
        return value
    if type(value) is not str:
        raise _NotCanonical
    return value


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(type(k) is str and type(v) is str for k, v in value.items()):
        raise _NotCanonical
    return dict(value)


# --- to the stored form -------------------------------------------------------------------


def dump(spec: Any) -> dict[str, Any]:
    """camelCase keys, fields equal to their default left out, nested objects likewise."""
    out: dict[str, Any] = {}
    for f in fields(spec):
        value = getattr(spec, f.name)
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if value == default:
            continue
        if isinstance(value, LocalRef | EventSource):
            value = dump(value)
        elif isinstance(value, list) and value and isinstance(value[0], EventSource):
            value = [dump(item) for item in value]
        out[camel(f.name)] = value
    return out

