"""Unknown fields of Providers and Alerts become warnings naming the nearest known field
(issue 24.8), as kubectl's field validation does; the object still loads."""

from __future__ import annotations

import pytest

from fluxnotify.model.manifests import Alert, ManifestError, Provider, Secret, load_yaml

V = "notification.toolkit.fluxcd.io/"


def one(text: str):
    [obj] = load_yaml(text)
    return obj


def provider(spec: str, version: str = "v1beta3") -> Provider:
    return one(f"apiVersion: {V}{version}\nkind: Provider\nmetadata: {{name: p, namespace: ns}}\nspec: {spec}\n")


def alert(spec: str, version: str = "v1beta3") -> Alert:
    return one(f"apiVersion: {V}{version}\nkind: Alert\nmetadata: {{name: a, namespace: ns}}\nspec: {spec}\n")


def test_a_mistyped_spec_field_is_named_with_the_nearest_known_one():
    obj = provider("{type: slack, adress: 'https://hooks.slack.com/services/T/B/X'}")
    assert obj.spec.address == ""  # what made the typo silent: the field is simply not read
    assert obj.warnings == ("unknown field spec.adress: did you mean spec.address?",)


def test_nested_fields_are_checked_in_lists_and_references():
    obj = alert("{providerRef: {name: p, nmae: q}, eventSources: [{kind: Kustomization, name: a},"
                " {kind: Kustomization, nmae: b, name: c}], eventSeverty: error}")
    assert obj.warnings == (
        "unknown field spec.eventSeverty: did you mean spec.eventSeverity?",
        "unknown field spec.providerRef.nmae: did you mean spec.providerRef.name?",
        "unknown field spec.eventSources[1].nmae: did you mean spec.eventSources[1].name?",
    )


def test_top_level_and_metadata_fields_and_a_field_with_no_near_miss():
    text = (f"apiVersion: {V}v1beta3\nkind: Provider\nmetadata: {{name: p, namespace: ns, lables: {{}}}}\n"
            "spec: {type: generic, address: 'http://h', colour: blue}\nstatuss: {}\n")
    assert one(text).warnings == (
        "unknown field statuss: did you mean status?",
        "unknown field metadata.lables: did you mean metadata.labels?",
        "unknown field spec.colour",
    )


def test_flux_fields_fluxnotify_does_not_read_are_no_warning():
    assert provider("{type: generic, address: 'http://h', interval: 10m}", "v1beta2").warnings == ()
    full = alert("{providerRef: {name: p}, eventSources: [{apiVersion: v1, kind: Kustomization, name: a,"
                 " namespace: x}], inclusionList: [a], exclusionList: [b], eventMetadata: {k: v},"
                 " summary: s, suspend: false, eventSeverity: info}")
    assert full.warnings == ()


@pytest.mark.parametrize("version, warned", [("v1beta1", True), ("v1beta2", True), ("v1beta3", False)])
def test_a_field_newer_than_the_objects_api_version(version, warned):
    obj = provider("{type: github, address: 'https://github.com/o/r', commitStatusExpr: 'x'}", version)
    expected = (f"spec.commitStatusExpr is not a field of {version} Provider (it came in v1beta3): Flux drops it",)
    assert obj.warnings == (expected if warned else ())


def test_warnings_do_not_stop_secrets_or_errors():
    secret = one("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\nstringData: {adress: x}\n")
    assert isinstance(secret, Secret) and secret.data == {"adress": "x"}  # a Secret's keys are free
    with pytest.raises(ManifestError, match="spec.type: Field required"):
        provider("{tpye: slack}")
