"""template.yaml: updating a stack of the previous release keeps its webhook token.

CloudFormation gives AWS::SecretsManager::Secret a new value only when the value's source
(SecretString or the GenerateSecretString block) changes. The previous release had a
WebhookToken parameter and a SecretString made from it (or from the stack id when it was
empty); this one generates the token. An update reuses a parameter's previous value (sam
deploy and `aws cloudformation deploy` do), so with it the template must resolve to the very
SecretString of before, and for stacks created since, to the very GenerateSecretString.
"""

from __future__ import annotations

import pytest
from template_helpers import sam, transformed

STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/fluxnotify/5a0c2e10-7f3b-11ef-9d1e-0a1b2c3d4e5f"

# The secret as the previous release's template.yaml defined it (git history, before the
# generated token), and the generator block of the release that introduced it.
PREVIOUS_PARAMETER = {"Type": "String", "Default": ""}
PREVIOUS_CONDITIONS = {"TokenGiven": {"Fn::Not": [{"Fn::Equals": [{"Ref": "WebhookToken"}, ""]}]}}
PREVIOUS_SECRET = {"SecretString": {"Fn::If": ["TokenGiven", {"Ref": "WebhookToken"},
                                               {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}}
GENERATED = {"PasswordLength": 48, "ExcludePunctuation": True, "IncludeSpace": False}

NO_VALUE = object()


def resolve(value, parameters: dict, conditions: dict):
    """The value CloudFormation resolves: Ref, Fn::If/Equals/Not/Select/Split, AWS::NoValue."""
    def condition(name: str) -> bool:
        return bool(resolve(conditions[name], parameters, conditions))

    if isinstance(value, list):
        return [resolve(v, parameters, conditions) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref":
            return {"AWS::StackId": STACK_ID, "AWS::NoValue": NO_VALUE}.get(arg, parameters.get(arg))
        if key == "Fn::If":
            return resolve(arg[1] if condition(arg[0]) else arg[2], parameters, conditions)
        if key == "Fn::Equals":
            left, right = resolve(arg, parameters, conditions)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not resolve(arg[0], parameters, conditions)
        if key == "Fn::Select":
            index, items = resolve(arg, parameters, conditions)
            return items[int(index)]
        if key == "Fn::Split":
            separator, text = resolve(arg, parameters, conditions)
            return text.split(separator)
    resolved = {k: resolve(v, parameters, conditions) for k, v in value.items()}
    return {k: v for k, v in resolved.items() if v is not NO_VALUE}


def value_source(properties: dict, parameters: dict, conditions: dict) -> dict:
    source = {k: properties[k] for k in ("SecretString", "GenerateSecretString") if k in properties}
    return resolve(source, parameters, conditions)


def current(parameters: dict) -> dict:
    template = sam()
    values = {name: p.get("Default") for name, p in template["Parameters"].items()} | parameters
    return value_source(template["Resources"]["WebhookTokenSecret"]["Properties"], values, template["Conditions"])


@pytest.mark.parametrize("previous_value", ["", "a-token-given-at-deploy-time"], ids=["stack-id default", "given"])
def test_an_update_reusing_the_previous_value_keeps_the_secrets_value_source(previous_value):
    before = value_source(PREVIOUS_SECRET, {"WebhookToken": previous_value}, PREVIOUS_CONDITIONS)
    after = current({"WebhookToken": previous_value})
    assert after == before and "GenerateSecretString" not in after
    expected = previous_value or "5a0c2e10-7f3b-11ef-9d1e-0a1b2c3d4e5f"
    assert after["SecretString"] == expected


def test_new_stacks_and_stacks_of_the_generated_token_keep_the_same_generator():
    assert current({}) == {"GenerateSecretString": GENERATED}  # unchanged: no new value on update


def test_the_parameter_is_the_previous_releases_name_hidden_and_defaults_to_generated():
    parameter = sam()["Parameters"]["WebhookToken"]
    assert parameter["Type"] == PREVIOUS_PARAMETER["Type"]  # same name and type: its value is reused
    assert parameter["NoEcho"] is True and parameter["Default"] == "generated"
    assert "'Ref': 'WebhookToken'}" not in str(sam()["Outputs"])  # in no output


@pytest.mark.parametrize("value", ["generated", "", "a-token"])
def test_sam_transforms_the_template_with_each_token_source(value):
    secret = transformed(WebhookToken=value)["Resources"]["WebhookTokenSecret"]
    assert set(secret["Properties"]) >= {"SecretString", "GenerateSecretString"}  # the Fn::If pair survives
    assert secret["DeletionPolicy"] == "Retain"
