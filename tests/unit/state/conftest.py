"""The state table on moto, as template.yaml defines it, for the stores' tests."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from statetable import create_state_table


@pytest.fixture
def dynamodb(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_state_table(client)
        yield client
