"""template.yaml as data: the SAM template itself, and what SAM transforms it into."""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


@cache
def _sam() -> dict:
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.load(str(ROOT / "template.yaml")), default=str))


def sam() -> dict:
    """The template with its intrinsics as dicts ({"Ref": …}, {"Fn::If": …})."""
    return copy.deepcopy(_sam())


def transformed(**parameters: str) -> dict:
    """The CloudFormation SAM makes of the template with these parameter values."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    template = sam()
    for resource in template["Resources"].values():
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = "s3://bucket/key"
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    return transform(template, parameters, NoManagedPolicies())


def resources_of(template: dict, kind: str) -> dict[str, dict]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}
