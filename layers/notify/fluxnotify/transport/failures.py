"""Failures of one HTTP attempt in user terms, with no secret in them.

A dead letter or a status page reads "POST https://hooks.example/… answered 500 Internal
Server Error: <body>" or "connection refused by 127.0.0.1:9 — is the service running?",
not a library's exception text. URLs keep scheme, host and port only (webhook URLs carry
their secrets in the path and query), and what the request carried as a credential (path
segments, query values, credential headers) is masked in an echoed body too.
"""

from __future__ import annotations

import http
import re
import socket
import ssl
import urllib.parse
from collections.abc import Iterator
from typing import TypeVar

from urllib3.exceptions import (
    ConnectTimeoutError,
    LocationParseError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ProxySchemeUnknown,
    ReadTimeoutError,
)

EXCERPT = 300  # characters of an answer's body in a message
MASK = "*****"  # as config/options.redact masks
_CREDENTIAL_HEADER = re.compile(r"auth|token|key|secret|signature|password|cookie", re.IGNORECASE)
_E = TypeVar("_E", bound=BaseException)


def redact_url(url: str) -> str:
    """scheme://host[:port] only; paths and queries may embed secrets."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    host = parts.hostname or ""
    port: int | str | None
    try:
        port = parts.port
    except ValueError:  # a malformed port must not break the error report itself
        port = parts.netloc.rpartition(":")[2]
    if port:
        host = f"{host}:{port}"
    suffix = "/…" if parts.path not in ("", "/") or parts.query else ""
    return f"{parts.scheme}://{host}{suffix}"


def host_port(url: str) -> str:
    """host:port the request went to (the scheme's port when the URL has none)."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return redact_url(url)
    return f"{parts.hostname or ''}:{port or (443 if parts.scheme == 'https' else 80)}"


def answered(method: str, url: str, status: int, body: str, secrets: list[str]) -> str:
    """`POST https://host/… answered 500 Internal Server Error: <body excerpt>`."""
    try:
        phrase = " " + http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    excerpt = " ".join(mask(body, secrets).split())
    if len(excerpt) > EXCERPT:
        excerpt = excerpt[:EXCERPT] + "…"
    who = f"{method} {redact_url(url)}" if url else "the server"
    return f"{who} answered {status}{phrase}" + (f": {excerpt}" if excerpt else "")


def request_secrets(url: str, headers: dict[str, str]) -> list[str]:
    """What a request carries that may be a credential, longest first (for ``mask``)."""
    parts = urllib.parse.urlsplit(url)
    found = [url, parts.path, parts.query, parts.username or "", parts.password or ""]
    found += [segment for segment in parts.path.split("/") if len(segment) >= 6]
    found += [value for _, value in urllib.parse.parse_qsl(parts.query) if len(value) >= 4]
    for name, value in headers.items():
        if _CREDENTIAL_HEADER.search(name):
            found += [value, value.rpartition(" ")[2]]  # "Bearer <token>": the token alone too
    return sorted({s for s in found if len(s) >= 4 and s not in ("/", "http", "https")}, key=len, reverse=True)


def mask(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def describe(err: BaseException, url: str, timeout: float) -> str:
    """What happened to the attempt, in words: no exception class names, no URL path.

    The whole cause chain is searched, most telling cause first: urllib3 wraps a refused
    connection in NewConnectionError, itself a ConnectTimeoutError.
    """
    if isinstance(err, ValueError) and str(err).startswith("failed to parse"):
        return str(err)  # http.ssl_context's own text about the certSecretRef material
    where = host_port(url)
    causes = list(_chain(err))

    def found(*kinds: type[_E]) -> _E | None:
        return next((c for c in causes if isinstance(c, kinds)), None)

    if found(ConnectionRefusedError):
        return f"connection refused by {where} — is the service running?"
    if found(NameResolutionError, socket.gaierror):
        return f"cannot resolve the host name {urllib.parse.urlsplit(url).hostname!r} — is it spelt right?"
    if (cert := found(ssl.SSLCertVerificationError)) is not None:
        return f"the TLS certificate of {where} is not trusted (CERTIFICATE_VERIFY_FAILED: {cert.verify_message})"
    if (tls := found(ssl.SSLError)) is not None:
        text = "CERTIFICATE_VERIFY_FAILED" if "CERTIFICATE_VERIFY_FAILED" in str(tls) else tls.reason
        return f"TLS with {where} failed ({text or 'handshake error'})"
    if any(isinstance(c, ConnectTimeoutError) and not isinstance(c, NewConnectionError) for c in causes):
        return f"no connection to {where} within {timeout:g} s — is a firewall in the way?"
    if found(ReadTimeoutError, TimeoutError):
        return f"{where} did not answer within {timeout:g} s"
    if found(ConnectionResetError, ProtocolError):
        return f"{where} closed the connection without answering"
    if found(ProxySchemeUnknown, ProxyError):
        return "the proxy cannot be used (its URL scheme must be http or https)"
    if found(LocationParseError, ValueError):
        return "the URL cannot be parsed (check the address: scheme://host[:port]/path)"
    strerror = next((c.strerror for c in causes if isinstance(c, OSError) and c.strerror), None)
    return f"{where}: {strerror}" if strerror else f"{where}: {type(err).__name__}"


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        item = todo.pop(0)
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        reason = getattr(item, "reason", None)
        todo += [reason if isinstance(reason, BaseException) else None, item.__cause__,
                 None if item.__suppress_context__ else item.__context__]
