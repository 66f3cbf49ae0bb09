"""`validate --from-aws --stack`: sns/eventbridge Providers stored in SSM whose topic or bus
is not in the stack's SnsTopicArns / EventBusArns parameters are warned about (moto: SSM and
a CloudFormation stack with those parameters); fluxnotify's own types say so in Ready."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.cli import main
from fluxnotify.ops.validate import conditions

TOPIC = "arn:aws:sns:eu-west-1:123456789012:flux"
# CloudFormation's DescribeStacks gives a CommaDelimitedList's value as the string it was given
# ("a,b"); moto gives a Python list's repr instead, so the stand-in stack declares Strings.
STACK_TEMPLATE = {
    "Parameters": {"SnsTopicArns": {"Type": "String", "Default": ""},
                   "EventBusArns": {"Type": "String", "Default": ""}},
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
}


def provider(name: str, type_name: str, channel: str, **spec: str) -> dict:
    return {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"type": type_name, "channel": channel, **spec}}


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "CONFIG_PREFIX": "/fluxnotify"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        ssm = boto3.client("ssm")
        for obj in (provider("allowed", "sns", TOPIC),
                    provider("other-topic", "sns", "arn:aws:sns:eu-west-1:123456789012:elsewhere"),
                    provider("bus", "eventbridge", "flux"),
                    provider("bus-arn", "eventbridge", "arn:aws:events:eu-west-1:123456789012:event-bus/other"),
                    provider("hook", "generic", "", address="http://127.0.0.1:1/")):
            ssm.put_parameter(Name=f"/fluxnotify/flux-system/Provider/{obj['metadata']['name']}",
                              Type="String", Value=json.dumps(obj))
        boto3.client("cloudformation").create_stack(
            StackName="fluxnotify", TemplateBody=json.dumps(STACK_TEMPLATE),
            Parameters=[{"ParameterKey": "SnsTopicArns", "ParameterValue": f"{TOPIC},arn:aws:sns:us-east-1:123456789012:x"},
                        {"ParameterKey": "EventBusArns",
                         "ParameterValue": "arn:aws:events:eu-west-1:123456789012:event-bus/flux"}])
        yield


def test_targets_outside_the_stack_parameters_are_warned_about(aws, capsys):
    assert main(["validate", "--from-aws", "--stack", "fluxnotify"]) == 0  # warnings do not fail
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if line.startswith("fluxnotify: warning:")]
    assert len(warned) == 2, err
    assert "Provider flux-system/other-topic: arn:aws:sns:eu-west-1:123456789012:elsewhere is not in the " \
           "stack's SnsTopicArns parameter" in warned[1]
    assert "Provider flux-system/bus-arn: arn:aws:events:eu-west-1:123456789012:event-bus/other is not in " \
           "the stack's EventBusArns parameter" in warned[0]


def test_without_stack_it_says_it_cannot_check(aws, capsys):
    assert main(["validate", "--from-aws"]) == 0
    err = capsys.readouterr().err
    assert "fluxnotify: warning: cannot check which SNS topics and event buses the dispatcher may use " \
           "(4 sns/eventbridge Provider(s)): give --stack NAME" in err


def test_unknown_stack_is_an_aws_error(aws, capsys):
    assert main(["validate", "--from-aws", "--stack", "nope"]) == 2
    assert "AWS error: stack nope:" in capsys.readouterr().err


def test_ready_message_says_the_type_is_fluxnotifys_own():
    objects = load_yaml(json.dumps(provider("topic", "sns", TOPIC)) + "\n---\n"
                        + json.dumps(provider("bus", "eventbridge", "flux")) + "\n---\n"
                        + json.dumps(provider("hook", "generic", "", address="http://127.0.0.1/")))
    found = {c.key: c for c in conditions(objects)}
    for key in ("flux-system/topic", "flux-system/bus"):
        assert found[key].ready and "is a fluxnotify type; Flux's notification-controller would refuse it" in found[key].message
    assert found["flux-system/hook"].message == "Initialized"
