"""Every form a secret takes on its way out (issue 13.5), to mask in logs, errors, dead
letters and CLI output: ``secret_forms``, ``redact``; config/options.py applies them to a
Provider's options."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable
from functools import lru_cache

from fluxnotify.model.manifests import Provider

SecretLookup = Callable[[str, str], "dict[str, str] | None"]

_MIN_SECRET = 4
_URL_PIECES = re.compile(r"[/?&=@:#;,\s]+")
_HOST_NAME = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")


@lru_cache(maxsize=256)
def cached_forms(values: tuple[str, ...], pairs: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    return tuple(secret_forms(values, pairs))


def secret_forms(values: Iterable[str], pairs: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Each secret in every form it takes on the way out, longest first (issue 13.5).

    A value leaks as itself, trimmed, line by line, escaped in a quoted error text,
    percent-encoded or -decoded, in pieces of a URL (userinfo, path segments, query values,
    even of a mistyped URL that no parser accepts) and base64-encoded as a Basic credential.
    ``pairs`` are (user, password) credentials that go out as `Basic base64(user:password)`.
    """
    forms: set[str] = set()
    for value in values:
        if not value:
            continue
        for text in {value, urllib.parse.unquote(value)}:
            forms |= _plain_forms(text)
    for user, password in pairs:
        if user or password:
            forms |= _base64_forms(f"{user}:{password}")
    return sorted((f for f in forms if len(f) >= _MIN_SECRET), key=len, reverse=True)


def referenced_secret_forms(provider: Provider | None, get_secret: SecretLookup) -> list[str]:
    """The secret forms of every Secret a Provider references, for errors raised before its
    options could be resolved (a mistyped address in the Secret fails validation)."""
    if provider is None:
        return []
    spec = provider.spec
    refs = [ref.name for ref in (spec.secret_ref, spec.cert_secret_ref, spec.proxy_secret_ref) if ref]
    values = []
    for name in refs:
        try:
            values += list((get_secret(provider.metadata.namespace, name) or {}).values())
        except Exception:  # the error being reported may be this very lookup failing
            continue
    return secret_forms(values)


def _plain_forms(value: str) -> set[str]:
    forms = {value, value.strip(), json.dumps(value)[1:-1], urllib.parse.quote(value, safe="")}
    forms |= {line.strip() for line in value.splitlines()}
    forms |= {word for word in value.split() if _secret_like(word)}
    forms |= {piece for piece in _URL_PIECES.split(value) if _secret_like(piece)}
    forms |= _url_parts(value)
    for form in list(forms):
        forms |= _base64_forms(form)
    return forms


def _url_parts(value: str) -> set[str]:
    if "://" not in value:
        return set()
    try:
        parts = urllib.parse.urlsplit(value.strip())
    except ValueError:
        return set()
    userinfo = parts.netloc.rpartition("@")[0]
    return {userinfo, parts.password or "", parts.query, parts.path if len(parts.path) > 1 else ""}


def _base64_forms(text: str) -> set[str]:
    encoded = base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")
    return {encoded, encoded.rstrip("="), encoded.replace("+", "-").replace("/", "_").rstrip("=")}


def _secret_like(piece: str) -> bool:
    """A URL piece worth hiding: not a plain word ('services') nor a host name."""
    if len(piece) < 6 or _HOST_NAME.fullmatch(piece):
        return False
    return not piece.isalpha() or not piece.islower() or len(piece) >= 16


def has_userinfo_or_path(url: str) -> bool:
    rest = url.split("://", 1)[-1]
    return "@" in rest or "/" in rest.strip("/") or "?" in rest


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "*****")
    return text
