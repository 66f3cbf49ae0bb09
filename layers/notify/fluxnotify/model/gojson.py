"""Byte-exact Go ``encoding/json`` serialisation (spec §1.4).

Dicts are written in insertion order (Go structs); callers that model a Go map
pass ``sort_keys=True`` for that dict or build it sorted. Go escapes ``<``,
``>``, ``&``, U+2028 and U+2029, writes other control characters as ``\\u00xx``
(never ``\\b``/``\\f``) and replaces invalid UTF-8 (lone surrogates here) by
U+FFFD.
"""

from __future__ import annotations

import json
import re
from typing import Any

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')
# An Encoder with SetEscapeHTML(false) (e.g. go-github's) leaves <, > and & as they are.
_NEEDS_ESCAPE_NO_HTML = re.compile('[\x00-\x1f"\\\\\u2028\u2029\ud800-\udfff]')


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    if "\ud800" <= char <= "\udfff":
        return "\ufffd"
    return f"\\u{ord(char):04x}"


def quote(text: str, escape_html: bool = True) -> str:
    """A JSON string literal exactly as Go's json.Marshal writes it."""
    pattern = _NEEDS_ESCAPE if escape_html else _NEEDS_ESCAPE_NO_HTML
    return '"' + pattern.sub(_escape_char, text) + '"'


# What Python's json writes differently from Go in text of strings, dicts and lists: HTML
# characters, U+2028/9, lone surrogates, and \b/\f (a literal backslash before b or f matches
# too: then the exact encoder runs, which is never wrong).
_NOT_AS_GO = re.compile('[<>&\u2028\u2029\ud800-\udfff]|\\\\[bf]')


def dumps_text(value: Any) -> str:
    """``dumps`` of strings, dicts and lists (no numbers: Go writes floats its own way) at
    C speed: Python's json encoder writes such data as Go does but for what _NOT_AS_GO
    finds, and then the exact encoder is used."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if text.isascii():  # the usual case: a few substring scans instead of the regex
        differs = "<" in text or ">" in text or "&" in text or "\\b" in text or "\\f" in text
    else:
        differs = _NOT_AS_GO.search(text) is not None
    return dumps(value) if differs else text


def go_sorted(mapping: dict[str, Any]) -> dict[str, Any]:
    """A copy of a Go map's items in the order json.Marshal writes them (UTF-8 bytes)."""
    return {k: mapping[k] for k in sorted(mapping, key=lambda k: k.encode("utf-8", "surrogatepass"))}


def dumps(value: Any, escape_html: bool = True) -> str:
    """Compact Go-style JSON of plain Python data (dict order kept)."""
    if isinstance(value, str):
        return quote(value, escape_html)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value != int(value) else str(int(value))
    if isinstance(value, dict):
        items = (quote(str(k), escape_html) + ":" + dumps(v, escape_html) for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v, escape_html) for v in value) + "]"
    raise TypeError(f"cannot serialise {type(value).__name__}")
