"""Config errors that say what to fix (issue 12.6, 24.10).

A provider module reports what it sees: an empty Slack address is
`invalid Slack hook URL : 'parse "": empty url'`, the reference's text. When the cause is a
key missing from the Secret the Provider references (or no address anywhere), that text
does not tell the user what to change. ``explain`` finds out by probing: it validates the
config again with the value filled in, and when that alone makes it valid the missing value
was the cause, so the error names the Secret and the key instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.manifests import Provider

# Stand-ins used only to see whether a missing value is what the provider objects to.
# host.name[:port] or localhost[:port]: what an address missing its scheme starts with.
_HOSTNAME = re.compile(r"(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)(:[0-9]+)?")
_PROBES = {"address": "https://probe.invalid/owner/repository", "token": "probe-token"}

Validator = Callable[[ProviderConfig], None]


def explain(err: ConfigError, provider: Provider, config: ProviderConfig, validate: Validator) -> ConfigError:
    """``err``, or a clearer error when a key missing from the referenced Secret is its cause.

    Without a secretRef the reference's own text stays: it names the empty field already.
    """
    no_scheme = _missing_scheme(provider, config, validate)
    if no_scheme is not None:
        return no_scheme
    ref = provider.spec.secret_ref
    if ref is None:
        return err
    for key in ("address", "token"):
        if getattr(config, key) or key in config.secret:
            continue
        if key == "token" and _other_credentials(config.secret):
            continue  # the user chose another way to authenticate: the module's text says what is missing
        if not _caused_by(key, config, validate):
            continue
        also = " and spec.address is empty" if key == "address" else ""
        return ConfigError(f"Secret {provider.metadata.namespace}/{ref.name} has no '{key}' key{also} ({err})")
    return err


def _missing_scheme(provider: Provider, config: ProviderConfig, validate: Validator) -> ConfigError | None:
    """`hooks.slack.com/services/…` instead of `https://hooks.slack.com/services/…`: say so,
    showing the host only (the path of a webhook URL is its secret)."""
    address = config.address
    host = address.split("/", 1)[0].rpartition("@")[2]
    if not _HOSTNAME.fullmatch(host) or not _valid_with(config, validate, address="https://" + address):
        return None  # not a host name (a placeholder such as <webhook-url>): the module's text stays
    shown = host + ("/…" if "/" in address.strip("/") else "")
    ref = provider.spec.secret_ref
    where = (f"Secret {provider.metadata.namespace}/{ref.name} key 'address'" if ref and "address" in config.secret
             else "spec.address")
    return ConfigError(f'{where} "{shown}" has no scheme: add https://')


def _other_credentials(secret: dict[str, str]) -> bool:
    return any(k in ("username", "password") or k.startswith("githubApp") for k in secret)


def _caused_by(key: str, config: ProviderConfig, validate: Validator) -> bool:
    return _valid_with(config, validate, **{key: _PROBES[key]})


def _valid_with(config: ProviderConfig, validate: Validator, **changes: Any) -> bool:
    try:
        validate(replace(config, **changes))
    except Exception:  # still invalid (or a probe the module cannot take): not the cause
        return False
    return True


def nearest(word: str, known: Iterable[str]) -> str | None:
    """The known word nearest to a misspelt one (`slak` → `slack`), or None."""
    from difflib import get_close_matches  # only when a name is wrong: off the cold start

    found = get_close_matches(word.lower(), list(known), n=1, cutoff=0.7)
    return found[0] if found else None
