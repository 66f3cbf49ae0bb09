"""`spec.commitStatusExpr`: the commit status id from a CEL expression (spec §3.3).

Evaluated with cel-python (``celpy``) over three variables: ``event`` (the event with
combined metadata, keys as in §1.1), ``provider`` and ``alert`` (the objects as maps).
The result must be a string. cel-python lacks the cel-go extensions that Flux enables,
so the string and optional-value functions that expressions commonly use are added
here (``split``, ``first``, ``value``…). This module is imported only when a Provider
has an expression (see routing.commit_status_id), so celpy stays out of other paths.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes

from fluxnotify.config.options import ConfigError
from fluxnotify.model.event import Event
from fluxnotify.model.manifests import Alert, Provider

ERROR_PREFIX = (
    "failed to create commit status: failed to evaluate the spec.commitStatusExpr CEL "
    "expression for the event: "
)


class Optional:
    """cel-go's optional value, as returned by ``list.first()``/``list.last()``."""

    def __init__(self, value: Any = None, present: bool = False):
        self.value = value
        self.present = present


def commit_status(expression: str, event: Event, provider: Provider, alert: Alert | None) -> str:
    """Evaluate the expression; anything but a string result is a ConfigError."""
    try:
        program = _program(expression)
        result = program.evaluate(_activation(event, provider, alert))
    except celpy.CELParseError as err:
        raise ConfigError(ERROR_PREFIX + "syntax error: " + _one_line(err)) from None
    except celpy.CELEvalError as err:
        raise ConfigError(ERROR_PREFIX + _eval_detail(err)) from None
    except ConfigError:
        raise
    except Exception as err:  # the library raises plain errors for some type mismatches
        raise ConfigError(ERROR_PREFIX + f"{type(err).__name__}: {err}") from None
    if isinstance(result, celpy.CELEvalError):
        raise ConfigError(ERROR_PREFIX + _eval_detail(result))
    if not isinstance(result, str) or isinstance(result, Optional):
        raise ConfigError(
            ERROR_PREFIX + f"the expression must evaluate to a string, got {_type_name(result)}"
        )
    return str(result)


@lru_cache(maxsize=256)
def _program(expression: str) -> celpy.Runner:
    environment = celpy.Environment()
    return environment.program(environment.compile(expression), functions=FUNCTIONS)


def _activation(event: Event, provider: Provider, alert: Alert | None) -> dict[str, Any]:
    provider_map = provider.as_dict()
    # Flux objects always have a UID; ours may be derived from namespace/name.
    provider_map["metadata"]["uid"] = provider.metadata.effective_uid
    alert_map = alert.as_dict() if alert is not None else {}
    if alert is not None:
        alert_map["metadata"]["uid"] = alert.metadata.effective_uid
    return {
        "event": celpy.json_to_cel(event.to_dict()),
        "provider": celpy.json_to_cel(provider_map),
        "alert": celpy.json_to_cel(alert_map),
    }


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def _eval_detail(err: celpy.CELEvalError) -> str:
    return str(err.args[0]) if err.args else _one_line(err)


def _type_name(value: Any) -> str:
    if isinstance(value, celtypes.BoolType):
        return "bool"
    if isinstance(value, Optional):
        return "optional"
    if isinstance(value, (celtypes.IntType, celtypes.UintType)):
        return "int"
    if isinstance(value, celtypes.DoubleType):
        return "double"
    if isinstance(value, celtypes.ListType):
        return "list"
    if isinstance(value, celtypes.MapType):
        return "map"
    if value is None:
        return "null"
    return type(value).__name__


# --- cel-go extension functions (ext.Strings, optional types) --------------------------


def _error(message: str) -> celpy.CELEvalError:
    return celpy.CELEvalError(message)


def _string(value: Any, function: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"no such overload: {function}({_type_name(value)})")
    return value


def _split(text: Any, separator: Any, limit: Any = None) -> celtypes.ListType:
    text, separator = _string(text, "split"), _string(separator, "split")
    if limit is not None:
        count = int(limit)
        if count == 0:
            return celtypes.ListType([])
        parts = text.split(separator, count - 1) if count > 0 else text.split(separator)
    else:
        parts = text.split(separator) if separator else list(text)
    return celtypes.ListType([celtypes.StringType(part) for part in parts])


def _join(items: Any, separator: Any = "") -> celtypes.StringType:
    return celtypes.StringType(_string(separator, "join").join(_string(i, "join") for i in items))


def _first(items: Any) -> Optional:
    return Optional(items[0], True) if len(items) else Optional()


def _last(items: Any) -> Optional:
    return Optional(items[-1], True) if len(items) else Optional()


def _value(optional: Any) -> Any:
    if not isinstance(optional, Optional):
        raise TypeError(f"no such overload: value({_type_name(optional)})")
    if not optional.present:
        return _error("optional.none() dereference")
    return optional.value


def _has_value(optional: Any) -> celtypes.BoolType:
    return celtypes.BoolType(isinstance(optional, Optional) and optional.present)


def _or_value(optional: Any, default: Any) -> Any:
    return optional.value if isinstance(optional, Optional) and optional.present else default


def _replace(text: Any, old: Any, new: Any, limit: Any = -1) -> celtypes.StringType:
    count = int(limit)
    return celtypes.StringType(_string(text, "replace").replace(old, new, count if count >= 0 else -1))


def _substring(text: Any, start: Any, end: Any = None) -> celtypes.StringType | celpy.CELEvalError:
    text = _string(text, "substring")
    stop = len(text) if end is None else int(end)
    if not 0 <= int(start) <= stop <= len(text):
        return _error(f"index out of range: {start}")
    return celtypes.StringType(text[int(start) : stop])


def _index_of(text: Any, part: Any) -> celtypes.IntType:
    return celtypes.IntType(_string(text, "indexOf").find(_string(part, "indexOf")))


def _last_index_of(text: Any, part: Any) -> celtypes.IntType:
    return celtypes.IntType(_string(text, "lastIndexOf").rfind(_string(part, "lastIndexOf")))


def _lower(text: Any) -> celtypes.StringType:
    return celtypes.StringType("".join(c.lower() if c.isascii() else c for c in _string(text, "lowerAscii")))


def _upper(text: Any) -> celtypes.StringType:
    return celtypes.StringType("".join(c.upper() if c.isascii() else c for c in _string(text, "upperAscii")))


def _trim(text: Any) -> celtypes.StringType:
    return celtypes.StringType(_string(text, "trim").strip())


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "split": _split,
    "join": _join,
    "first": _first,
    "last": _last,
    "value": _value,
    "hasValue": _has_value,
    "orValue": _or_value,
    "replace": _replace,
    "substring": _substring,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": _lower,
    "upperAscii": _upper,
    "trim": _trim,
}
