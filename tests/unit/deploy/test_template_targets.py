"""template.yaml, issue 26: the dispatcher may publish to exactly the SNS topics and put events
on exactly the EventBridge buses its parameters name, and to none by default. The transformed
role's policies are evaluated with the template's own conditions for given parameter values."""

from __future__ import annotations

import pytest
from template_helpers import sam, transformed

TOPICS = "arn:aws:sns:eu-west-1:123456789012:flux,arn:aws:sns:eu-west-1:123456789012:chatbot.fifo"
BUSES = "arn:aws:events:eu-west-1:123456789012:event-bus/flux"


def evaluate(value, parameters: dict[str, list[str] | str], conditions: dict):
    """The few intrinsics the conditions and policies use, for given parameter values."""
    if isinstance(value, list):
        return [evaluate(v, parameters, conditions) for v in value]
    if not isinstance(value, dict):
        return value
    if "Ref" in value and value["Ref"] in parameters:
        return parameters[value["Ref"]]
    if "Fn::Not" in value:
        return not evaluate(value["Fn::Not"][0], parameters, conditions)
    if "Fn::Equals" in value:
        left, right = evaluate(value["Fn::Equals"], parameters, conditions)
        return left == right
    if "Fn::Join" in value:
        separator, items = value["Fn::Join"]
        return separator.join(evaluate(items, parameters, conditions))
    if "Fn::If" in value:
        name, yes, no = value["Fn::If"]
        chosen = yes if evaluate(conditions[name], parameters, conditions) else no
        return evaluate(chosen, parameters, conditions)
    return {k: evaluate(v, parameters, conditions) for k, v in value.items()}


def granted(topics: str, buses: str) -> dict[str, list]:
    """action → resources, over every role of the transformed template."""
    parameters = {"SnsTopicArns": topics.split(","), "EventBusArns": buses.split(",")}
    cfn = transformed(SnsTopicArns=topics, EventBusArns=buses)
    grants: dict[str, list] = {}
    for name, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in evaluate(resource["Properties"].get("Policies", []), parameters, cfn["Conditions"]):
            if policy == {"Ref": "AWS::NoValue"}:
                continue
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                for action in actions:
                    if action.split(":")[0] in ("sns", "events"):
                        grants.setdefault(f"{name} {action}", []).append(statement["Resource"])
    return grants


def test_parameters_default_to_no_target():
    parameters = sam()["Parameters"]
    for name in ("SnsTopicArns", "EventBusArns"):
        assert parameters[name]["Type"] == "CommaDelimitedList" and parameters[name]["Default"] == ""


def test_nothing_is_granted_by_default():
    assert granted("", "") == {}


@pytest.mark.parametrize(("topics", "buses"), [(TOPICS, ""), ("", BUSES), (TOPICS, BUSES)])
def test_exactly_the_named_topics_and_buses(topics, buses):
    expected = {}
    if topics:
        expected["DispatcherFunctionRole sns:Publish"] = [topics.split(",")]
    if buses:
        expected["DispatcherFunctionRole events:PutEvents"] = [buses.split(",")]
    assert granted(topics, buses) == expected
