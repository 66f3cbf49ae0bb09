"""The receiver's token source on AWS: Secrets Manager (moto), cached, last good kept."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from fluxnotify.ingress.tokens import SecretTokens


@pytest.fixture
def secrets(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("secretsmanager")


def test_plain_string_and_json_object(secrets):
    plain = secrets.create_secret(Name="plain", SecretString="tok\n")["ARN"]
    mapped = secrets.create_secret(Name="mapped", SecretString=json.dumps({"eu": ["a", "b"]}))["ARN"]
    assert SecretTokens(plain, secrets)() == {"default": ["tok"]}
    assert SecretTokens(mapped, secrets)() == {"eu": ["a", "b"]}


def test_cached_for_max_age_then_reread(secrets):
    arn = secrets.create_secret(Name="t", SecretString="one")["ARN"]
    source = SecretTokens(arn, secrets, max_age=300)
    assert source() == {"default": ["one"]}
    secrets.put_secret_value(SecretId=arn, SecretString="two")
    assert source() == {"default": ["one"]}  # inside the five minutes
    source.max_age = 0
    assert source() == {"default": ["two"]}


def test_failed_refresh_keeps_the_last_good_tokens(secrets):
    arn = secrets.create_secret(Name="t", SecretString="one")["ARN"]
    source = SecretTokens(arn, secrets, max_age=0)
    assert source() == {"default": ["one"]}
    secrets.put_secret_value(SecretId=arn, SecretString="{not json")
    assert source() == {"default": ["one"]}
    secrets.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert source() == {"default": ["one"]}


def test_no_tokens_yet_raises_for_the_receiver_to_answer_503(secrets):
    with pytest.raises(Exception):
        SecretTokens("arn:aws:secretsmanager:eu-west-1:123456789012:secret:missing", secrets)()
