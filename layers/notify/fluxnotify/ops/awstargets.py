"""`validate --from-aws --stack NAME`: warn about sns/eventbridge Providers whose topic or bus
the stack does not let the dispatcher use (its SnsTopicArns / EventBusArns parameters: the
dispatcher's role may publish to exactly those, docs/aws.md).

A warning, not a failed Ready condition: permissions can also come from elsewhere (a
Secret's own keys, a policy added outside the stack). Without --stack it says it cannot check.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from fluxnotify.model.manifests import Provider

PARAMETERS = {"sns": "SnsTopicArns", "eventbridge": "EventBusArns"}


class StackError(RuntimeError):
    """The stack could not be read; the message is one line."""


def stack_allowed(cloudformation: Any, stack: str) -> tuple[dict[str, list[str]], str, str, str]:
    """({parameter: ARNs}, partition, region, account) of a deployed stack."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except (BotoCoreError, ClientError) as err:
        raise StackError(f"stack {stack}: {' '.join(str(err).split())}") from None
    values = {p["ParameterKey"]: p.get("ResolvedValue", p.get("ParameterValue", "")) for p in found.get("Parameters", [])}
    allowed = {name: [arn.strip() for arn in values.get(name, "").split(",") if arn.strip()]
               for name in PARAMETERS.values()}
    _, partition, _, region, account, _ = (found["StackId"].split(":", 5) + [""] * 6)[:6]
    return allowed, partition, region, account


def target_arn(provider: Provider, partition: str, region: str, account: str) -> str:
    """The ARN a Provider's channel names (an event bus given by name is in the stack's region)."""
    channel = provider.spec.channel.strip()
    if provider.spec.type == "eventbridge" and not channel.startswith("arn:"):
        return f"arn:{partition}:events:{region}:{account}:event-bus/{channel}"
    return channel


def warnings(providers: list[Provider], cloudformation: Any | None, stack: str | None) -> list[str]:
    """One line per sns/eventbridge Provider the stack does not allow (or why none can be checked)."""
    targets = [p for p in providers if p.spec.type in PARAMETERS]
    if not targets:
        return []
    if not stack:
        return [f"cannot check which SNS topics and event buses the dispatcher may use "
                f"({len(targets)} sns/eventbridge Provider(s)): give --stack NAME"]
    if cloudformation is None:
        import boto3

        try:
            cloudformation = boto3.client("cloudformation")
        except Exception as err:  # NoRegionError, unknown profile, ...
            raise StackError(f"stack {stack}: {' '.join(str(err).split())}") from None
    allowed, partition, region, account = stack_allowed(cloudformation, stack)
    lines = []
    for provider in targets:
        parameter = PARAMETERS[provider.spec.type]
        arn = target_arn(provider, partition, region, account)
        if not any(fnmatch.fnmatchcase(arn, pattern) for pattern in allowed[parameter]):
            lines.append(
                f"Provider {provider.metadata.key}: {arn} is not in the stack's {parameter} parameter, "
                "so the dispatcher's role may not use it (add it to the parameter and deploy, "
                "or give the Provider its own keys)"
            )
    return lines
