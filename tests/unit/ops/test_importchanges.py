"""The changes of `fluxnotify import` (ops/importchanges.py): planned against what is stored,
named by key only, in the order they are made, prunes last."""

from __future__ import annotations

import json

from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.importchanges import Change, _secret_diff, left_alone, plan_import, summary_total
from fluxnotify.ops.stored import StoredSecret

MANIFESTS = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: all, namespace: apps}
spec:
  providerRef: {name: hook}
  eventSources: [{kind: Kustomization, name: '*'}]
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: apps}
spec: {type: generic, secretRef: {name: hook-auth}}
---
apiVersion: v1
kind: Secret
metadata: {name: hook-auth, namespace: apps}
stringData: {address: 'https://hooks.example/new-secret-path'}
"""


class FakeStored:
    """What plan_import reads of ops.stored.Stored, from dictionaries."""

    config_prefix = "/fluxnotify"
    secrets_prefix = "fluxnotify"

    def __init__(self, secrets: dict, parameters: dict):
        self.secrets, self._parameters = secrets, parameters

    def secret_by_name(self, name):
        data = self.secrets.get(name)
        return StoredSecret(name, "present" if data is not None else "absent", data)

    def parameters(self):
        return self._parameters

    def parameter_identity(self, name):
        parts = name.removeprefix("/fluxnotify/").split("/")
        return (parts[1], parts[0], parts[2]) if len(parts) == 3 else None

    def secret_names(self):
        return sorted(self.secrets)

    def secret_identity(self, name):
        parts = name.split("/")
        return (parts[1], parts[2]) if len(parts) == 3 and parts[0] == "fluxnotify" else None


def test_secret_diff_names_keys_only():
    old = {"token": "aaaa1111", "address": "https://x/1", "gone": "zzzz9999"}
    new = {"token": "bbbb2222", "address": "https://x/1", "headers": "X-A: b"}
    note = _secret_diff(old, new)
    assert note == "keys changed: token; added: headers; removed: gone"
    for value in ("aaaa1111", "bbbb2222", "zzzz9999", "X-A: b"):
        assert value not in note
    assert _secret_diff(None, {"token": "t"}).startswith("stored value is not a JSON object")


def test_change_lines():
    assert Change("+", "Provider", "flux-system/slack", "/p").line() == "+ Provider flux-system/slack"
    line = Change("~", "Secret", "a/b", "s", '{"k": "value-123"}', "keys changed: k").line()
    assert line == "~ Secret a/b (keys changed: k)"


def test_plan_orders_secrets_providers_alerts_then_prunes():
    objects = load_yaml(MANIFESTS)
    alert_doc = json.dumps(next(o for o in objects if o.kind == "Alert").as_dict(), separators=(",", ":"))
    stored = FakeStored(
        secrets={"fluxnotify/apps/hook-auth": {"address": "https://hooks.example/old-secret-path"},
                 "fluxnotify/apps/gone": {"token": "t"}, "other/left-alone": {}},
        parameters={"/fluxnotify/apps/Alert/all": {"Type": "String", "Value": alert_doc},
                    "/fluxnotify/apps/Provider/old": {"Type": "String", "Value": "{}"},
                    "/fluxnotify/apps/Alert/old": {"Type": "String", "Value": "{}"},
                    "/fluxnotify/stray": {"Type": "String", "Value": "x"}},
    )
    changes = plan_import(objects, stored, prune=False)
    assert [c.line() for c in changes] == [
        "~ Secret apps/hook-auth (keys changed: address)",
        "+ Provider apps/hook",
        "= Alert apps/all",
    ]
    assert "old-secret-path" not in changes[0].line() and "new-secret-path" in (changes[0].value or "")
    pruned = plan_import(objects, stored, prune=True)[3:]
    assert [(c.action, c.kind, c.key, c.target) for c in pruned] == [
        ("-", "Alert", "apps/old", "/fluxnotify/apps/Alert/old"),
        ("-", "Provider", "apps/old", "/fluxnotify/apps/Provider/old"),
        ("-", "Secret", "apps/gone", "fluxnotify/apps/gone"),
    ]
    assert summary_total(plan_import(objects, stored, prune=True)) == "total: 1 new, 1 changed, 1 unchanged, 3 pruned"
    assert left_alone(stored) == ["/fluxnotify/stray", "other/left-alone"]
