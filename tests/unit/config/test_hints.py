"""Config errors in user terms (issue 24.10): a misspelt spec.type gets the nearest
registered type, an address without a scheme says "add https://", secrets stay hidden."""

from __future__ import annotations

import pytest

from fluxnotify import providers
from fluxnotify.config.hints import nearest
from fluxnotify.config.options import ConfigError
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.cli import main
from fluxnotify.ops.validate import conditions

V3 = "notification.toolkit.fluxcd.io/v1beta3"
HOOK_SECRET = "B0456/S3cr3tH00kPath"


def provider(spec: str, name: str = "p") -> str:
    return f"apiVersion: {V3}\nkind: Provider\nmetadata: {{name: {name}, namespace: ns}}\nspec: {spec}\n---\n"


def message(text: str) -> str:
    [condition] = conditions(load_yaml(text))
    assert not condition.ready
    return condition.message


@pytest.mark.parametrize("typo, expected", [("slak", "slack"), ("Slack", "slack"), ("msteam", "msteams"),
                                            ("discrod", "discord"), ("githb", "github")])
def test_a_misspelt_type_names_spec_type_and_the_nearest_type(typo, expected):
    with pytest.raises(ConfigError) as caught:
        providers.get(typo)
    assert str(caught.value) == (
        f"failed to initialize notifier: provider {typo} not supported (spec.type: did you mean {expected}?)")


def test_a_type_with_no_near_miss_keeps_the_reference_text():
    with pytest.raises(ConfigError) as caught:
        providers.get("carrierpigeon")
    assert str(caught.value) == "failed to initialize notifier: provider carrierpigeon not supported"
    assert nearest("zz", ["slack"]) is None


def test_validate_prints_the_type_suggestion(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(provider("{type: slak, address: 'https://hooks.slack.com/x'}"))
    assert main(["validate", "-f", str(path)]) == 1
    assert "provider slak not supported (spec.type: did you mean slack?)" in capsys.readouterr().out


def test_an_address_without_scheme_says_add_https():
    text = provider(f"{{type: slack, address: 'hooks.slack.com/services/T0123/{HOOK_SECRET}'}}")
    assert message(text) == 'spec.address "hooks.slack.com/…" has no scheme: add https://'


def test_an_address_from_the_secret_without_scheme_names_the_secret_key():
    text = provider("{type: generic, secretRef: {name: hook}}") + (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: hook, namespace: ns}\n"
        f"stringData: {{address: 'hooks.example.com/{HOOK_SECRET}?token=abc'}}\n")
    assert message(text) == "Secret ns/hook key 'address' \"hooks.example.com/…\" has no scheme: add https://"


def test_a_host_alone_without_scheme():
    assert message(provider("{type: generic, address: 'hooks.example.com'}")) == (
        'spec.address "hooks.example.com" has no scheme: add https://')


def test_a_bad_address_with_a_scheme_keeps_the_reference_text():
    assert "has no scheme" not in message(provider("{type: generic, address: 'https://bad host/x'}"))
