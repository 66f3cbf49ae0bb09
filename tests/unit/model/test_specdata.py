"""The plain specs (model/specdata.py) and ``parse_stored``: the models' fields, defaults and
limits, their dump, and the stored form read without pydantic giving exactly what the models
give — the same object, or the same error."""

from __future__ import annotations

import copy
import json
from dataclasses import MISSING, fields

import pytest
from annotated_types import MaxLen, MinLen

from fluxnotify.model import specdata, specs
from fluxnotify.model.manifests import ManifestError, load_yaml, parse_object, parse_stored

PAIRS = [(specdata.LocalRef, specs.LocalRef), (specdata.EventSource, specs.EventSource),
         (specdata.AlertSpec, specs.AlertSpec), (specdata.ProviderSpec, specs.ProviderSpec)]

YAML = """
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: slack, namespace: apps, labels: {team: a}, annotations: {fluxnotify.io/x: "1"}}
spec: {type: slack, channel: general, address: "https://hooks.example/x", secretRef: {name: s},
       timeout: 10s, suspend: true, certSecretRef: {name: ca}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook}
spec: {type: generic}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: all, namespace: apps, uid: 1234}
spec:
  providerRef: {name: slack}
  eventSeverity: error
  eventSources:
    - {kind: Kustomization, name: '*', matchLabels: {app: web}}
    - {kind: HelmRelease, name: podinfo, namespace: other, apiVersion: helm.toolkit.fluxcd.io/v2}
  inclusionList: [".*failed.*"]
  exclusionList: ["^Dependencies"]
  eventMetadata: {env: prod}
  summary: production
---
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Alert
metadata: {name: bare, namespace: apps}
spec: {providerRef: {name: hook}, eventSources: [{kind: Bucket, name: b}]}
"""


def stored() -> list[dict]:
    """The objects as `fluxnotify import` stores them (JSON of as_dict)."""
    return [json.loads(json.dumps(obj.as_dict())) for obj in load_yaml(YAML, "test.yaml")]


def outcome(parse, doc):
    try:
        return parse(copy.deepcopy(doc), "ssm:/x")
    except ManifestError as err:
        return ("error", str(err), err.kind, err.key)


@pytest.mark.parametrize("plain, model", PAIRS)
def test_the_plain_specs_have_the_models_fields_defaults_and_limits(plain, model):
    assert [f.name for f in fields(plain)] == list(model.model_fields)
    limits = {}
    for f in fields(plain):
        info = model.model_fields[f.name]
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        assert (default is MISSING) == info.is_required(), f.name
        if not info.is_required():
            assert default == info.default, f.name
        low = next((m.min_length for m in info.metadata if isinstance(m, MinLen)), 0)
        high = next((m.max_length for m in info.metadata if isinstance(m, MaxLen)), None)
        if (low, high) != (0, None):
            limits[f.name] = (low, high)
    assert specdata.LIMITS.get(plain, {}) == limits


def test_dump_is_the_models_dump_and_the_stored_form_reads_back_without_the_model():
    for doc in stored():
        model = specs.ProviderSpec if doc["kind"] == "Provider" else specs.AlertSpec
        assert doc["spec"] == model.model_validate(doc["spec"]).model_dump(by_alias=True, exclude_defaults=True)
        assert specdata.from_stored(doc["kind"], doc["spec"]) is not None  # no model needed
        assert parse_stored(doc, "ssm:/x") == parse_object(doc, "ssm:/x")


def _set(path: str, value):
    def change(doc: dict) -> None:
        *parents, last = path.split(".")
        target = doc
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return change


PROVIDER_CHANGES = {
    "empty type": _set("spec.type", ""),
    "no type": _set("spec.type", KeyError),
    "type not a string": _set("spec.type", 5),
    "address too long": _set("spec.address", "h" * 2049),
    "address at the limit": _set("spec.address", "h" * 2048),
    "channel a number": _set("spec.channel", 7),
    "suspend as text (coerced)": _set("spec.suspend", "true"),
    "suspend null": _set("spec.suspend", None),
    "secretRef without a name": _set("spec.secretRef", {}),
    "secretRef empty name": _set("spec.secretRef", {"name": ""}),
    "secretRef null": _set("spec.secretRef", None),
    "secretRef a string": _set("spec.secretRef", "s"),
    "secretRef with more": _set("spec.secretRef", {"name": "s", "key": "k"}),
    "unknown spec field": _set("spec.adress", "https://x"),
    "flux-only field": _set("spec.interval", "5m"),
    "snake_case field": _set("spec.secret_ref", {"name": "s"}),
    "spec not a mapping": _set("spec", ["type"]),
    "spec null": _set("spec", None),
    "status kept": _set("status", {}),
    "metadata extra": _set("metadata.resourceVersion", "1"),
    "metadata without a name": _set("metadata.name", KeyError),
    "labels not a mapping": _set("metadata.labels", ["a"]),
    "bad apiVersion": _set("apiVersion", "notification.toolkit.fluxcd.io/v9"),
    "sops": _set("sops", {"version": "3"}),
    "encrypted value": _set("spec.address", "ENC[AES256_GCM,data:x]"),
    "v1beta1 with a newer field": lambda d: (_set("apiVersion", "notification.toolkit.fluxcd.io/v1beta1")(d),
                                             _set("spec.commitStatusExpr", "x")(d)),
}
ALERT_CHANGES = {
    "no eventSources": _set("spec.eventSources", KeyError),
    "empty eventSources": _set("spec.eventSources", []),
    "eventSources a mapping": _set("spec.eventSources", {"kind": "Bucket", "name": "b"}),
    "source name too long": _set("spec.eventSources.0.name", "b" * 254),
    "source name at the limit": _set("spec.eventSources.0.name", "b" * 253),
    "source without a kind": _set("spec.eventSources.0.kind", KeyError),
    "source name empty": _set("spec.eventSources.0.name", ""),
    "matchLabels with a number": _set("spec.eventSources.0.matchLabels", {"app": 1}),
    "matchLabels null": _set("spec.eventSources.0.matchLabels", None),
    "source unknown field": _set("spec.eventSources.0.nmae", "x"),
    "providerRef null": _set("spec.providerRef", None),
    "providerRef missing": _set("spec.providerRef", KeyError),
    "summary too long": _set("spec.summary", "s" * 256),
    "inclusionList with a number": _set("spec.inclusionList", ["a", 1]),
    "inclusionList a string": _set("spec.inclusionList", "a"),
    "eventMetadata with a list": _set("spec.eventMetadata", {"env": ["a"]}),
    "severity null": _set("spec.eventSeverity", None),
    "v1beta1 with a newer field": _set("apiVersion", "notification.toolkit.fluxcd.io/v1beta1"),
    "kind Secret": _set("kind", "Secret"),
    "unknown kind": _set("kind", "Alerts"),
}


@pytest.mark.parametrize("change", list(PROVIDER_CHANGES), ids=str)
def test_a_changed_stored_provider_gives_what_the_model_gives(change):
    doc = stored()[0]
    PROVIDER_CHANGES[change](doc)
    assert outcome(parse_stored, doc) == outcome(parse_object, doc)


@pytest.mark.parametrize("change", list(ALERT_CHANGES), ids=str)
def test_a_changed_stored_alert_gives_what_the_model_gives(change):
    doc = stored()[2]
    ALERT_CHANGES[change](doc)
    assert outcome(parse_stored, doc) == outcome(parse_object, doc)


def test_invalid_stored_objects_are_still_refused_naming_the_field():
    provider, alert = stored()[0], stored()[2]
    provider["spec"]["type"] = ""
    alert["spec"]["eventSources"][0]["name"] = "b" * 254
    with pytest.raises(ManifestError, match=r"Provider apps/slack: spec\.type: String should have at least 1"):
        parse_stored(provider, "ssm:/x")
    with pytest.raises(ManifestError, match=r"spec\.eventSources\.0\.name: String should have at most 253"):
        parse_stored(alert, "ssm:/x")


def test_warnings_of_a_stored_object_with_unknown_fields_are_the_models():
    doc = stored()[0]
    doc["spec"]["adress"] = "https://x"
    assert parse_stored(doc, "ssm:/x").warnings == ("unknown field spec.adress: did you mean spec.address?",)
