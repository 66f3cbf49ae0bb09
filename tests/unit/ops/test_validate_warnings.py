"""Warnings in `validate` (issue 24.8): unknown fields and fluxnotify.io/* annotations are
named with the nearest known one; the object stays Ready and the exit status 0."""

from __future__ import annotations

import json
from pathlib import Path

from fluxnotify.delivery import annotations
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.cli import main
from fluxnotify.ops.validate import conditions, unknown_annotations

V3 = "notification.toolkit.fluxcd.io/v1beta3"
SECRET_PATH = "T0123/B0456/S3cr3tH00kPath"


def provider(spec: str, notes: str = "{}") -> str:
    return (f"apiVersion: {V3}\nkind: Provider\n"
            f"metadata: {{name: slack, namespace: ns, annotations: {notes}}}\nspec: {spec}\n---\n")


def alert(notes: str = "{}", extra: str = "") -> str:
    return (f"apiVersion: {V3}\nkind: Alert\nmetadata: {{name: a, namespace: ns, annotations: {notes}}}\n"
            f"spec: {{providerRef: {{name: slack}}, eventSources: [{{kind: Kustomization, name: '*'{extra}}}]}}\n")


GOOD_PROVIDER = provider(f"{{type: slack, address: 'https://hooks.slack.com/services/{SECRET_PATH}'}}")


def test_a_misspelt_spec_field_warns_and_stays_ready(tmp_path, capsys):
    text = provider(f"{{type: slack, address: 'https://hooks.slack.com/services/{SECRET_PATH}', chanel: ops}}")
    path = tmp_path / "p.yaml"
    path.write_text(text + alert())
    assert main(["validate", "-f", str(path)]) == 0
    rows = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert rows == [
        f"{path} Provider ns/slack Ready=True Succeeded: Initialized",
        f"{path} Provider ns/slack warning unknown field spec.chanel: did you mean spec.channel?",
        f"{path} Alert ns/a Ready=True Succeeded: Initialized",
        "2 objects: 2 Ready, 0 not Ready, 1 warning",
    ]


def test_a_nested_field_typo_in_the_json_output(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(GOOD_PROVIDER + alert(extra=", nmae: apps"))
    assert main(["validate", "-f", str(path), "-o", "json"]) == 0
    captured = capsys.readouterr()
    by_kind = {c["kind"]: c for c in json.loads(captured.out)}
    assert by_kind["Alert"]["status"] == "True"
    assert by_kind["Alert"]["warnings"] == [
        "unknown field spec.eventSources[0].nmae: did you mean spec.eventSources[0].name?"]
    assert captured.err == "2 objects: 2 Ready, 0 not Ready, 1 warning\n"


def test_an_annotation_typo_names_the_nearest_known_annotation():
    found = conditions(load_yaml(GOOD_PROVIDER + alert("{fluxnotify.io/mesage: '{{ event.message }}'}")))
    [_, condition] = found
    assert condition.ready and condition.warnings == (
        "unknown annotation fluxnotify.io/mesage: did you mean fluxnotify.io/message?",)


def test_annotation_prefix_typos_and_the_other_kinds_annotations():
    [prov, al] = load_yaml(
        provider("{type: slack, address: 'https://hooks.slack.com/x'}",
                 "{fluxnotfy.io/thread: object, fluxnotify.io/digest: 5m, example.com/mesage: x}")
        + alert("{fluxnotify.io/thread: object, fluxnotify.io/zzz: x, kustomize.config.k8s.io/id: y}"))
    assert unknown_annotations(prov) == (
        "unknown annotation fluxnotfy.io/thread: did you mean fluxnotify.io/thread?",
        "annotation fluxnotify.io/digest is read on an Alert only: ignored here",
    )
    known = ", ".join(annotations.ALERT_KEYS)
    assert unknown_annotations(al) == (
        "annotation fluxnotify.io/thread is read on a Provider only: ignored here",
        f"unknown annotation fluxnotify.io/zzz (known on Alerts: {known})",
    )


def test_a_provider_annotation_typo_may_point_to_an_alert_annotation():
    [prov] = load_yaml(provider("{type: slack, address: 'https://hooks.slack.com/x'}", "{fluxnotify.io/mesage: x}"))
    assert unknown_annotations(prov) == (
        "unknown annotation fluxnotify.io/mesage: did you mean fluxnotify.io/message? (an Alert annotation)",)


def test_every_known_annotation_passes_without_warning():
    notes = {key: "x" for key in annotations.ALERT_KEYS}
    [_, al] = load_yaml(GOOD_PROVIDER + alert(json.dumps(notes)))
    assert unknown_annotations(al) == ()


def test_warnings_never_show_a_secret(tmp_path, capsys):
    """A typo whose value is a secret: the warning names the field, never the value."""
    text = provider("{type: slack}", "{}").replace("spec: {type: slack}",
                                                   f"spec: {{type: slack, adress: 'https://hooks.slack.com/{SECRET_PATH}'}}")
    path = Path(tmp_path / "p.yaml")
    path.write_text(text)
    main(["validate", "-f", str(path)])
    out = capsys.readouterr().out
    assert "unknown field spec.adress: did you mean spec.address?" in out and SECRET_PATH not in out
