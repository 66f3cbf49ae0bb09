"""Credentials out of what `render` and `test` print (issue 24.6).

Rendered requests end up pasted into tickets, so every form of every secret of the Provider
(config/options.py ``sensitive_values``: tokens, passwords, Secret values, webhook URLs, their
URL-encoded and base64 forms) is replaced by ``*****`` — in headers, bodies (JSON values
too), errors and URLs. A URL keeps what helps to check it (scheme, host, port, the path
segments and query values that are not secret), so a Slack hook reads
``https://hooks.slack.com/services/*****/*****/*****``. An HMAC signature header is derived
from the secret, not the secret itself, and stays visible (it changes with every body).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from fluxnotify.config.options import redact
from fluxnotify.transport.failures import MASK


def mask_value(value: Any, secrets: list[str]) -> Any:
    """``value`` (str, dict, list, anything JSON) with every secret form masked."""
    if not secrets:
        return value
    if isinstance(value, str):
        return mask_url(value, secrets) if _is_url(value) else redact(value, secrets)
    if isinstance(value, dict):
        return {key: mask_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_value(item, secrets) for item in value]
    return value


def mask_url(url: str, secrets: list[str]) -> str:
    """Mask the user info, path segments and query values that hold (part of) a secret.

    Piece by piece: secret_forms lists every piece of a secret URL worth hiding (six
    characters and more, not a plain word), while the whole address or path of a Provider
    (e.g. GitHub's /org/repo) is listed too but says nothing secret in a longer path."""
    if not any(secret in url for secret in secrets):
        return url
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return redact(url, secrets)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, colon, password = userinfo.partition(":")
        netloc = f"{_piece(user, secrets)}{colon}{MASK if password else ''}@{host}"
    path = "/".join(_piece(segment, secrets) for segment in parts.path.split("/"))
    query = "&".join(_query_pair(pair, secrets) for pair in parts.query.split("&")) if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, query, redact(parts.fragment, secrets)))


def _query_pair(pair: str, secrets: list[str]) -> str:
    name, equals, value = pair.partition("=")
    return f"{name}{equals}{_piece(value, secrets)}" if equals else _piece(name, secrets)


def _piece(text: str, secrets: list[str]) -> str:
    if not text:
        return text
    decoded = urllib.parse.unquote(text)
    hidden = redact(text, secrets) != text or redact(decoded, secrets) != decoded or decoded in secrets
    return MASK if hidden else text


def _is_url(text: str) -> bool:
    return "://" in text and not any(c.isspace() for c in text)
