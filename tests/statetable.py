"""The state table as template.yaml defines it (keys and indexes), created on moto."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


@cache
def _definition() -> str:
    from cfnlint.decode import cfn_yaml

    properties = cfn_yaml.load(str(TEMPLATE))["Resources"]["DedupTable"]["Properties"]
    keep = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    return json.dumps({key: properties[key] for key in keep}, default=str)


def create_state_table(client: Any, name: str = "state") -> None:
    client.create_table(TableName=name, **json.loads(_definition()))
