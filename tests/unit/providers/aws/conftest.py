"""moto for the AWS providers: credentials and region of a test account, no endpoint override,
and no boto3 client kept from one test to the next."""

from __future__ import annotations

import pytest
from moto import mock_aws

from fluxnotify.providers.aws import shared


@pytest.fixture
def moto(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    shared.forget_clients()
    with mock_aws():
        yield
    shared.forget_clients()
