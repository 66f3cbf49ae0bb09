"""template.yaml: what issue 17 asks of the production template, asserted on the template
and on what SAM transforms it into."""

from __future__ import annotations

import json
import re

import pytest
from template_helpers import ROOT, resources_of, sam, transformed


@pytest.fixture(scope="module")
def template() -> dict:
    return sam()


def text_of(value) -> str:
    return json.dumps(value)


def test_alarm_topic_uses_a_key_cloudwatch_may_use(template):
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmKey"}, "alias/aws/sns cannot be used by CloudWatch alarms"
    key = template["Resources"]["AlarmKey"]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    (cloudwatch,) = [s for s in statements if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"]
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch["Action"])
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    assert alarms and all("AlarmTopic" in text_of(a["Properties"]["AlarmActions"]) for a in alarms.values())


def test_no_token_in_parameters_outputs_or_tags(template):
    assert template["Parameters"]["WebhookToken"]["Default"] == "generated"  # upgrades only (test_token_upgrade)
    assert all(p.get("NoEcho") for name, p in template["Parameters"].items() if "token" in name.lower())
    secret = template["Resources"]["WebhookTokenSecret"]["Properties"]
    generated = secret["GenerateSecretString"]["Fn::If"][1]
    assert generated["ExcludePunctuation"] is True and generated["PasswordLength"] >= 32
    outputs = template["Outputs"]
    assert "WebhookUrl" not in outputs
    # The stack id is in every tag and the outputs: only the previous release's default token was it.
    assert "StackId" not in text_of({k: v for k, v in template["Resources"].items() if k != "WebhookTokenSecret"})
    assert "StackId" not in text_of(secret["GenerateSecretString"]) + text_of(template["Outputs"])
    base = outputs["WebhookBaseUrl"]["Value"]["Fn::Sub"]
    assert base == "https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    assert not any("WebhookTokenSecret" in text_of(o["Value"]) and "GetAtt" not in text_of(o["Value"])
                   and "Ref" not in text_of(o["Value"]) for o in outputs.values())
    assert outputs["WebhookTokenSecretArn"]["Value"] == {"Ref": "WebhookTokenSecret"}  # the ARN, not the value


def test_samconfig_captures_no_token_and_syncs_no_production_stack():
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    default = config["default"]
    assert "sync" not in default and "stack_name" not in default.get("global", {}).get("parameters", {})
    assert default["deploy"]["parameters"]["stack_name"] == "fluxnotify"
    assert config["dev"]["global"]["parameters"]["stack_name"] != "fluxnotify"
    overrides = text_of(config).lower()
    assert "token" not in overrides and "parameter_overrides" not in overrides


def test_retained_state(template):
    for name in ("EventsDLQ", "DedupTable", "WebhookTokenSecret"):
        resource = template["Resources"][name]
        assert resource.get("DeletionPolicy") == "Retain" and resource.get("UpdateReplacePolicy") == "Retain", name
    for name, table in resources_of(template, "AWS::DynamoDB::Table").items():
        assert table.get("DeletionPolicy") == "Retain", name


def test_public_endpoint_is_throttled_and_the_receiver_bounded(template):
    routes = template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert routes == {"ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
                      "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"}}
    receiver = template["Resources"]["ReceiverFunction"]["Properties"]
    assert "ReceiverReservedConcurrency" in text_of(receiver["ReservedConcurrentExecutions"])
    cfn = transformed()
    stage = resources_of(cfn, "AWS::ApiGatewayV2::Stage")
    (settings,) = [s["Properties"]["DefaultRouteSettings"] for s in stage.values()]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}


@pytest.mark.parametrize("metric, namespace", [
    ("ApproximateAgeOfOldestMessage", "AWS/SQS"),
    ("Throttles", "AWS/Lambda"),
    ("5xx", "AWS/ApiGateway"),
])
def test_alarms_watch_age_throttles_and_5xx(template, metric, namespace):
    alarms = [a["Properties"] for a in resources_of(template, "AWS::CloudWatch::Alarm").values()]
    watching = [a for a in alarms if a["MetricName"] == metric and a["Namespace"] == namespace]
    assert watching
    if metric == "Throttles":
        assert {a["Dimensions"][0]["Value"]["Ref"] for a in watching} == {"ReceiverFunction", "DispatcherFunction"}
    if metric == "5xx":
        assert watching[0]["Dimensions"] == [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]


def test_retry_chain_stays_below_lambdas_recursion_limit(template):
    assert template["Parameters"]["MaxAttempts"]["MaxValue"] < 16
    assert template["Resources"]["DispatcherFunction"]["Properties"]["RecursiveLoop"] == "Terminate"


def test_receiver_may_only_read_and_record_duplicate_keys():
    role = transformed()["Resources"]["ReceiverFunctionRole"]["Properties"]
    actions = {action for policy in role["Policies"] for statement in policy["PolicyDocument"]["Statement"]
               for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])}
    dynamodb = {a for a in actions if a.startswith("dynamodb:")}
    assert dynamodb == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}  # no lease to update


def test_dispatcher_keeps_crud_on_the_state_table(template):
    policies = template["Resources"]["DispatcherFunction"]["Properties"]["Policies"]
    assert {"DynamoDBCrudPolicy": {"TableName": {"Ref": "DedupTable"}}} in policies
    env = template["Resources"]["DispatcherFunction"]["Properties"]["Environment"]["Variables"]
    assert env["STATE_TABLE"] == {"Ref": "DedupTable"}


@pytest.mark.parametrize("mode, traced", [("Disabled", False), ("Active", True)])
def test_xray_permissions_only_when_tracing_is_on(mode, traced):
    cfn = transformed(Tracing=mode)
    for function in ("ReceiverFunction", "DispatcherFunction"):
        arns = text_of(cfn["Resources"][f"{function}Role"]["Properties"]["ManagedPolicyArns"])
        assert ("AWSXray" in arns) is traced, function
        assert ("TracingConfig" in cfn["Resources"][function]["Properties"]) is traced


def test_layer_is_built_for_the_functions_runtime_and_architecture(template):
    globals_ = template["Globals"]["Function"]
    layer = template["Resources"]["NotifyLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == [globals_["Runtime"]] == ["python3.12"]
    architecture = {"Ref": "Architecture"}
    assert globals_["Architectures"] == layer["Properties"]["CompatibleArchitectures"] == [architecture]
    assert layer["Metadata"]["BuildArchitecture"] == architecture
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    parameter = template["Parameters"]["Architecture"]
    assert parameter["AllowedValues"] == ["x86_64", "arm64"]
    # `make build` passes one ARCH to the template and to the layer's Makefile: same defaults.
    for makefile in (ROOT / "Makefile", ROOT / "layers" / "notify" / "Makefile"):
        assert re.search(r"^ARCH \?= (\S+)", makefile.read_text(), re.M).group(1) == parameter["Default"], makefile
    assert "Architecture=$(ARCH)" in (ROOT / "Makefile").read_text()


def test_every_checkov_skip_is_justified_here_and_in_the_docs(template):
    docs = (ROOT / "docs" / "aws.md").read_text()
    skipped = {}
    for name, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 20, (name, skip["id"])
            skipped.setdefault(skip["id"], []).append(name)
    assert skipped
    for check in skipped:
        assert check in docs, f"{check} is skipped in template.yaml but not explained in docs/aws.md"
