"""template.yaml, the dispatcher's part: visibility timeout and the secret store choice."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


class CfnLoader(yaml.SafeLoader):
    pass


CfnLoader.add_multi_constructor("!", lambda loader, tag, node: {tag: _value(loader, node)})


def _value(loader, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def template() -> dict:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)  # noqa: S506 (SafeLoader subclass)


def test_visibility_timeout_is_at_least_six_times_the_dispatcher_timeout():
    resources = template()["Resources"]
    timeout = resources["DispatcherFunction"]["Properties"]["Timeout"]
    assert resources["EventsQueue"]["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_the_secret_store_is_a_parameter_the_dispatcher_reads():
    doc = template()
    assert doc["Parameters"]["SecretStore"]["AllowedValues"] == ["ssm", "secretsmanager"]
    dispatcher = doc["Resources"]["DispatcherFunction"]["Properties"]
    assert dispatcher["Environment"]["Variables"]["SECRET_STORE"] == {"Ref": "SecretStore"}
    readable = [p["SSMParameterReadPolicy"]["ParameterName"] for p in dispatcher["Policies"]
                if "SSMParameterReadPolicy" in p]
    assert {"Sub": "${SecretsPrefix}-secrets/*"} in readable


def test_the_ledger_outlives_the_dead_letters():
    from fluxnotify.state.ledger import DEFAULT_TTL

    assert DEFAULT_TTL >= template()["Resources"]["EventsDLQ"]["Properties"]["MessageRetentionPeriod"]
