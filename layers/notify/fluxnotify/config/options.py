"""Effective provider options: a Provider plus its Secrets, resolved as spec §3.2–3.4 say
(the forms of its secrets to mask: config/secretforms.py)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

# `x as x`: re-exported, callers import them from here.
from fluxnotify.config.secretforms import SecretLookup as SecretLookup
from fluxnotify.config.secretforms import cached_forms, has_userinfo_or_path
from fluxnotify.config.secretforms import redact as redact
from fluxnotify.config.secretforms import referenced_secret_forms as referenced_secret_forms
from fluxnotify.config.secretforms import secret_forms as secret_forms
from fluxnotify.errors import Permanent
from fluxnotify.model.duration import CRD_UNITS, go_duration
from fluxnotify.model.manifests import Provider
from fluxnotify.transport.http import DEFAULT_TIMEOUT, TLSMaterial, ssl_context

_TLS_KEYS = (("ca.crt", "caFile"), ("tls.crt", "certFile"), ("tls.key", "keyFile"))
# Provider annotation choosing a payload shape (e.g. sns: `chatbot`); copied to ProviderConfig.format.
FORMAT_ANNOTATION = "fluxnotify.io/format"


class ConfigError(ValueError, Permanent):
    """A provider configuration that cannot be used (the reference's error text)."""


@dataclass(frozen=True)
class ProviderConfig:
    """Everything a provider module needs, with secrets already applied."""

    namespace: str
    name: str
    uid: str
    type: str
    address: str = ""
    channel: str = ""
    username: str = ""
    password: str = ""
    token: str = ""
    # spec.username as written: a Secret's `username` (a login) replaces `username` above,
    # while `email` still needs the field for its From address.
    spec_username: str = ""
    proxy: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    tls: TLSMaterial | None = None
    secret: dict[str, str] = field(default_factory=dict)
    service_account_name: str = ""
    commit_status: str = ""
    # (namespace, name, uid) of the Alert that routed the event; otel needs it (spec §5.32).
    alert: tuple[str, str, str] | None = None
    format: str = ""  # the fluxnotify.io/format annotation, "" when absent

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def sensitive_values(self) -> list[str]:
        """Every form of every secret that must never appear in logs, errors or dead letters."""
        values = [self.token, self.password, *self.secret.values(), *self.headers.values()]
        values += [url for url in (self.address, self.proxy) if has_userinfo_or_path(url)]
        pairs = ((self.username, self.password), ("", self.token), (self.token, ""))
        return list(cached_forms(tuple(values), pairs))  # computed once per distinct config


def parse_duration(text: str) -> float:
    """A Go duration as Flux's CRD allows it (`1m30s`, `500ms`), in seconds."""
    try:
        return go_duration(text, CRD_UNITS)
    except ValueError:
        raise ConfigError(f"invalid timeout {text!r}: expected a duration such as 15s, 1m or 500ms") from None


def resolve(provider: Provider, get_secret: SecretLookup, secret_tls: bool = False) -> ProviderConfig:
    """Apply spec, Secret, proxy Secret and TLS Secret in the order of spec §3.2."""
    spec = provider.spec
    ns = provider.metadata.namespace
    values: dict = {
        "channel": spec.channel,
        "username": spec.username,
        "spec_username": spec.username,
        "proxy": spec.proxy,
        "address": spec.address,
        "timeout": parse_duration(spec.timeout) if spec.timeout else DEFAULT_TIMEOUT,
        "service_account_name": spec.service_account_name,
        "format": provider.metadata.annotations.get(FORMAT_ANNOTATION, "").strip(),
    }
    secret: dict[str, str] = {}
    if spec.secret_ref:
        secret = _read_secret(get_secret, ns, spec.secret_ref.name)
        values.update(_from_secret(secret, ns, spec.secret_ref.name))
    if spec.proxy_secret_ref:
        values["proxy"] = _proxy_from_secret(get_secret, ns, spec.proxy_secret_ref.name)
    values["tls"] = _tls(provider, secret, get_secret, secret_tls)
    return ProviderConfig(
        namespace=ns,
        name=provider.metadata.name,
        uid=provider.metadata.effective_uid,
        type=spec.type,
        secret=secret,
        **values,
    )


def _read_secret(get_secret: SecretLookup, ns: str, name: str) -> dict[str, str]:
    data = get_secret(ns, name)
    if data is None:
        raise ConfigError(f"failed to get secret '{ns}/{name}': secret not found")
    return data


def _from_secret(secret: dict[str, str], ns: str, name: str) -> dict:
    values: dict = {}
    if "address" in secret:
        if len(secret["address"].encode()) > 2048:
            raise ConfigError(
                "invalid address in secret: address exceeds maximum length of 2048 bytes"
            )
        values["address"] = secret["address"].strip()
    if "proxy" in secret:
        proxy = secret["proxy"].strip()
        if not _parses_as_url(proxy):
            raise ConfigError(f"invalid 'proxy' in secret '{ns}/{name}'")
        values["proxy"] = proxy
    if "headers" in secret:
        values["headers"] = _headers(secret["headers"])
    if _credentials_usable(secret):
        if secret.get("token"):
            values["token"] = secret["token"]
        if "username" in secret and "password" in secret:
            values["username"] = secret["username"]
            values["password"] = secret["password"]
    return values


def _credentials_usable(secret: dict[str, str]) -> bool:
    """The reference's all-or-nothing rule (spec §3.2, quirk §7.1)."""
    if ("username" in secret) != ("password" in secret):
        return False
    try:
        _tls_material(secret)
    except ConfigError:
        return False
    return True


def _headers(text: str) -> dict[str, str]:
    import yaml  # rarely needed: keep it off the cold start

    try:
        headers = yaml.safe_load(text)
    except yaml.YAMLError as err:
        # Not the YAML error text itself: it quotes the (secret) headers.
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"failed to read headers from secret: not valid YAML{where}") from None
    if headers is None:
        return {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigError("failed to read headers from secret: expected a map of strings")
    return headers


def _proxy_from_secret(get_secret: SecretLookup, ns: str, name: str) -> str:
    data = _read_secret(get_secret, ns, name)
    if "address" not in data:
        raise ConfigError(
            f"failed to get proxy URL: secret '{ns}/{name}': key 'address' not found"
        )
    address = data["address"].strip()
    if not address:
        raise ConfigError(f"failed to get proxy URL: secret '{ns}/{name}': proxy address is empty")
    parts = urllib.parse.urlsplit(address)
    username = data.get("username", "")
    if not username:
        return address
    userinfo = urllib.parse.quote(username, safe="")
    if data.get("password"):
        userinfo += ":" + urllib.parse.quote(data["password"], safe="")
    return parts._replace(netloc=f"{userinfo}@{parts.netloc.rpartition('@')[2]}").geturl()


def _tls(provider: Provider, secret: dict[str, str], get_secret: SecretLookup, secret_tls: bool) -> TLSMaterial | None:
    """``secret_tls``: the type also takes TLS material from its own Secret (commit status types)."""
    spec = provider.spec
    if spec.cert_secret_ref:
        ns, name = provider.metadata.namespace, spec.cert_secret_ref.name
        material = _tls_material(_read_secret(get_secret, ns, name))
        if material is None:
            raise ConfigError(
                f"failed to get TLS config: secret '{ns}/{name}' must contain either "
                "'ca.crt' or both 'tls.crt' and 'tls.key'"
            )
        return material
    if secret_tls and secret:
        try:
            return _tls_material(secret)
        except ConfigError:
            return None
    return None


def _tls_material(data: dict[str, str]) -> TLSMaterial | None:
    """CA and/or client pair from standard or legacy keys; None when neither is present."""
    ca, cert, key = (data.get(std) or data.get(legacy) for std, legacy in _TLS_KEYS)
    if cert and not key:
        raise ConfigError("failed to get TLS config: found 'tls.crt' but no 'tls.key'")
    if key and not cert:
        raise ConfigError("failed to get TLS config: found 'tls.key' but no 'tls.crt'")
    if not ca and not cert:
        return None
    material = TLSMaterial(ca=ca or None, cert=cert or None, key=key or None)
    try:
        ssl_context(material)
    except ValueError as err:
        raise ConfigError(f"failed to get TLS config: {err}") from None
    return material


def _parses_as_url(text: str) -> bool:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return False
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        return False
    return not any(c.isspace() for c in parts.netloc.rpartition("@")[2])
