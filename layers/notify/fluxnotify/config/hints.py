"""Config errors that say what to fix (issue 12.6).

A provider module reports what it sees: an empty Slack address is
`invalid Slack hook URL : 'parse "": empty url'`, the reference's text. When the cause is a
key missing from the Secret the Provider references (or no address anywhere), that text
does not tell the user what to change. ``explain`` finds out by probing: it validates the
config again with the value filled in, and when that alone makes it valid the missing value
was the cause, so the error names the Secret and the key instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.manifests import Provider

# Stand-ins used only to see whether a missing value is what the provider objects to.
_PROBES = {"address": "https://probe.invalid/owner/repository", "token": "probe-token"}

Validator = Callable[[ProviderConfig], None]


def explain(err: ConfigError, provider: Provider, config: ProviderConfig, validate: Validator) -> ConfigError:
    """``err``, or a clearer error when a key missing from the referenced Secret is its cause.

    Without a secretRef the reference's own text stays: it names the empty field already.
    """
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


def _other_credentials(secret: dict[str, str]) -> bool:
    return any(k in ("username", "password") or k.startswith("githubApp") for k in secret)


def _caused_by(key: str, config: ProviderConfig, validate: Validator) -> bool:
    try:
        validate(replace(config, **{key: _PROBES[key]}))
    except Exception:  # still invalid (or a probe the module cannot take): not the cause
        return False
    return True
