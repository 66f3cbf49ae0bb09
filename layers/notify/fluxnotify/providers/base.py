"""Helpers shared by provider modules: the URL check, request building, sending.

A provider module defines:

* ``validate(cfg)`` — raise ConfigError (the spec's text) for config it cannot use;
* ``encode(event, cfg)`` — pure: the deliveries to make, or raise Skip/ProviderError;
* optionally ``deliver(event, cfg, transport)`` — the I/O, when sending the encoded
  requests one by one with the 2xx check (``send_all``) is not enough.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Iterable
from functools import lru_cache

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.errors import Permanent, Skip  # noqa: F401  (Skip: re-exported for provider modules)
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.transport.http import DeliveryError, Request, Response, Transport, check_2xx

__all__ = [
    "ConfigError", "DeliveryError", "ProviderError", "Skip", "canonical_header", "header_value", "headline",
    "json_request",
    "merge_headers", "obj_dot", "parse_error", "require_url", "send_all", "url_error",
]  # fmt: skip

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s/?#@\[\]:]*)(:[0-9]*)?$")
_USERINFO = re.compile(r"[A-Za-z0-9\-._:~!$&'()*+,;=%@]*")  # Go's validUserinfo
_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", '"': '\\"', "\\": "\\\\"}


class ProviderError(Permanent):
    """The event cannot be delivered by this provider (permanent), e.g. missing revision."""


def go_quote(text: str) -> str:
    """Go's %q (strconv.Quote): how url.Error and fmt quote strings in error texts."""
    out = []
    for char in text:
        code = ord(char)
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code > 0x7F and not char.isprintable():
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def url_error(address: str) -> str | None:
    """Go's url.ParseRequestURI error text for the address, or None when it passes (spec §5.0)."""
    if address == "":
        return 'parse "": empty url'
    prefix = f"parse {go_quote(address)}: "
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in address):
        return prefix + "net/url: invalid control character in URL"
    if not (address.startswith("/") or _SCHEME.match(address)):
        return prefix + "invalid URI for request"
    rest = address.split(":", 1)[1] if not address.startswith("/") else address
    if rest.startswith("//"):
        authority = re.split(r"[/?#]", rest[2:], maxsplit=1)[0]
        hostport = authority.rpartition("@")[2]
        cut = hostport.rfind("]") + 1 if hostport.startswith("[") else hostport.rfind(":")
        port = hostport[cut:] if cut > 0 else ""
        if port and not re.fullmatch(r":[0-9]*", port):
            return prefix + f"invalid port {go_quote(port)} after host"
        if not _HOST.match(hostport):
            return prefix + f"invalid character {go_quote(_bad_char(hostport))} in host name"
        if "@" in authority and not _USERINFO.fullmatch(authority.rpartition("@")[0]):
            return prefix + "net/url: invalid userinfo"
    return None


def parse_error(address: str) -> str | None:
    """Go's url.Parse error (not ParseRequestURI: empty and relative references pass)."""
    error = url_error(address)
    if error is None or address == "" or error.endswith("invalid URI for request"):
        return None
    return error


def _bad_char(hostport: str) -> str:
    return next((c for c in hostport if c.isspace() or c in "[]@"), hostport[:1])


def require_url(address: str, template: str) -> None:
    """Raise ConfigError from a template with {address} and {error} when the URL check fails."""
    error = url_error(address)
    if error is not None:
        raise ConfigError(template.format(address=address, error=error))


_LINE_BREAK = re.compile(r"[\r\n]+[ \t]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@lru_cache(maxsize=1024)  # the same controllers' names on every request
def header_value(text: str) -> str:
    """An event-derived value made fit for a header (docs/differences.md "Event data in
    headers"): a line break with the folding whitespace after it becomes one space (no
    obs-fold, no injected header), every other control character is removed. Non-ASCII
    text is kept; the transport sends it as its UTF-8 bytes, as Go does."""
    return _CONTROL.sub("", _LINE_BREAK.sub(" ", text))


def headline(event: Event) -> str:
    """`Kustomization flux-system/apps: ReconciliationFailed`: the title of fluxnotify's own
    types (email subject, Mattermost attachment, ntfy notification)."""
    ref = event.involved_object
    return header_value(f"{ref.kind} {ref.namespace}/{ref.name}: {event.reason}")


def obj_dot(event: Event) -> str:
    ref = event.involved_object
    return f"{ref.kind.lower()}/{ref.name}.{ref.namespace}"


@lru_cache(maxsize=1024)  # header names repeat on every request
def canonical_header(name: str) -> str:
    """Go's CanonicalMIMEHeaderKey: 'x-signature' → 'X-Signature'."""
    if not name or any(c in name for c in " \t\r\n:"):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def merge_headers(*layers: dict[str, str]) -> dict[str, str]:
    """Later layers win; names compare case-insensitively and come out canonical."""
    merged: dict[str, str] = {}
    for layer in layers:
        for name, value in layer.items():
            merged[canonical_header(name)] = value
    return merged


def json_request(
    url: str, payload: object, headers: dict[str, str] | None = None, method: str = "POST"
) -> Request:
    body = gojson.dumps(payload).encode("utf-8")
    return Request(method, url, merge_headers({"Content-Type": "application/json"}, headers or {}), body)


Check = Callable[[Response], None]


def send_all(
    requests: Iterable[Request],
    cfg: ProviderConfig,
    transport: Transport,
    check: Check = check_2xx,
    prefix: str = "",
    *,
    use_proxy: bool = True,
    use_tls: bool = True,
) -> None:
    """Send each request once; the first failure raises DeliveryError with the prefix."""
    for request in requests:
        send_one(request, cfg, transport, check, prefix, use_proxy=use_proxy, use_tls=use_tls)


def send_one(
    request: Request,
    cfg: ProviderConfig,
    transport: Transport,
    check: Check = check_2xx,
    prefix: str = "",
    *,
    use_proxy: bool = True,
    use_tls: bool = True,
) -> Response:
    """One attempt with the provider's proxy/TLS/timeout; a failure gets the prefix."""
    try:
        response = transport.send(
            request,
            proxy=cfg.proxy if use_proxy else "",
            tls=cfg.tls if use_tls else None,
            timeout=cfg.timeout,
        )
        check(response)
    except DeliveryError as err:
        raise err.wrap(prefix) from None
    return response


def query_escape(text: str) -> str:
    return urllib.parse.quote(text, safe="")
