"""Pure parts of `fluxnotify.ops.importer` and `fluxnotify.ops.stored`: prefixes, placeholders, duplicates, redaction."""

from __future__ import annotations

import pytest

from fluxnotify.model.manifests import Secret, load_yaml
from fluxnotify.ops.importer import check_unique, import_conditions, resolve_placeholders
from fluxnotify.ops.stored import ImportRefused, StoredSecret, config_prefix, secret_refs, secrets_prefix

PROVIDER = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: apps}
spec:
  type: generic
  secretRef: {name: hook-auth}
  certSecretRef: {name: hook-tls}
  proxySecretRef: {name: hook-auth}
"""
ALERT = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: all, namespace: apps}
spec:
  providerRef: {name: elsewhere}
  eventSources: [{kind: Kustomization, name: '*'}]
"""


class FakeStored:
    """Just enough of admin.Stored for the pure functions."""

    config_prefix = "/fluxnotify"
    secrets_prefix = "fluxnotify"

    def __init__(self, secrets=None, parameters=()):
        self.secrets = secrets or {}
        self._parameters = {name: {"Value": "{}", "Type": "String"} for name in parameters}
        self.reads: list[str] = []

    def secret_by_name(self, name):
        self.reads.append(name)
        data = self.secrets.get(name)
        return StoredSecret(name, "present" if data is not None else "absent", data)

    def secret(self, namespace, name):
        return self.secret_by_name(f"fluxnotify/{namespace}/{name}").data

    def parameters(self):
        return self._parameters

    def parameter_identity(self, name):
        parts = name.removeprefix("/fluxnotify/").split("/")
        return (parts[1], parts[0], parts[2]) if len(parts) == 3 else None


def test_prefixes_come_from_arguments_then_environment_then_defaults(monkeypatch):
    monkeypatch.delenv("CONFIG_PREFIX", raising=False)
    monkeypatch.delenv("SECRETS_PREFIX", raising=False)
    assert (config_prefix(), secrets_prefix()) == ("/fluxnotify", "fluxnotify")
    monkeypatch.setenv("CONFIG_PREFIX", "/team/")
    monkeypatch.setenv("SECRETS_PREFIX", "vault/team/")
    assert (config_prefix(), secrets_prefix()) == ("/team", "vault/team")
    # The template passes ConfigPrefix without its leading "/": SSM paths need it.
    assert config_prefix("ops/notify") == "/ops/notify"
    assert secrets_prefix("ops") == "ops"


def test_secret_refs_lists_each_referenced_secret_once():
    (provider,) = load_yaml(PROVIDER)
    assert secret_refs(provider) == ["hook-auth", "hook-tls"]


def test_duplicates_are_refused():
    objects = load_yaml(PROVIDER + "---\n" + ALERT)
    check_unique(objects)
    with pytest.raises(ImportRefused, match="Provider apps/hook is defined more than once"):
        check_unique(load_yaml(PROVIDER + "---\n" + PROVIDER))


def test_placeholders_take_the_stored_value_and_unknown_keys_are_refused():
    (secret,) = load_yaml(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: hook-auth, namespace: apps}\n"
        "stringData:\n  token: '<stored in Secrets Manager: fluxnotify/apps/hook-auth>'\n  username: bot\n"
    )
    stored = FakeStored({"fluxnotify/apps/hook-auth": {"token": "real-token-777"}})
    (resolved,) = resolve_placeholders([secret], stored)
    assert isinstance(resolved, Secret)
    assert resolved.data == {"token": "real-token-777", "username": "bot"}

    with pytest.raises(
        ImportRefused, match="key 'token' is a placeholder, but secret fluxnotify/apps/hook-auth"
    ):
        resolve_placeholders([secret], FakeStored({"fluxnotify/apps/hook-auth": {"other": "x"}}))
    # No placeholder: AWS is not consulted.
    untouched = FakeStored()
    assert resolve_placeholders(load_yaml(PROVIDER), untouched) and untouched.reads == []


def test_import_conditions_fall_back_to_aws_only_without_prune():
    objects = load_yaml(PROVIDER.replace("  certSecretRef: {name: hook-tls}\n", "") + "---\n" + ALERT)
    stored = FakeStored(
        {"fluxnotify/apps/hook-auth": {"address": "https://hook.example.com/x"}},
        parameters=["/fluxnotify/apps/Provider/elsewhere"],
    )
    pruning = import_conditions(objects, stored, prune=True)
    assert [(c.kind, c.ready, c.reason) for c in pruning] == [
        ("Provider", False, "ValidationFailed"),
        ("Alert", False, "ProviderNotFound"),
    ]
    assert stored.reads == []

    kept = import_conditions(objects, stored, prune=False)
    assert [(c.kind, c.ready) for c in kept] == [("Provider", True), ("Alert", True)]

    nothing_stored = import_conditions(objects, FakeStored(), prune=False)
    assert [(c.kind, c.ready) for c in nothing_stored] == [("Provider", False), ("Alert", False)]
    assert "secret not found" in nothing_stored[0].message
