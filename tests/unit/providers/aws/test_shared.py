"""The AWS providers' shared parts: ARNs, credentials, clients per region, error classes
(throttling, 5xx and connection errors are retried; access, not-found, invalid are not)."""

from __future__ import annotations

import socket

import pytest
from botocore.exceptions import ClientError, NoCredentialsError
from fixtures.incident.incident_helpers import config

from fluxnotify.providers.aws import shared

KEYS = {"aws_access_key_id": "AKIAFLUXNOTIFYTEST", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/secret"}


def client_error(code: str, status: int, message: str = "text") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "Publish")


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (client_error("Throttling", 400), True),
        (client_error("ThrottlingException", 400), True),
        (client_error("InternalError", 500), True),
        (client_error("Whatever", 503), True),
        (client_error("AuthorizationError", 403), False),
        (client_error("AccessDeniedException", 400), False),
        (client_error("NotFound", 404), False),
        (client_error("InvalidParameter", 400), False),
        (client_error("KMSDisabled", 400), False),
        (NoCredentialsError(), False),
    ],
)
def test_error_classes(error, retryable):
    failure = shared.failure("failed: ", error, config("sns"))
    assert failure.retryable is retryable
    assert str(failure).startswith("failed: ")


def test_error_text_never_holds_the_keys():
    error = client_error("SignatureDoesNotMatch", 403,
                         "String to sign: AWS4-HMAC-SHA256 Credential=AKIAFLUXNOTIFYTEST/20240101 "
                         "wJalrXUtnFEMI/K7MDENG/secret")
    text = str(shared.failure("failed: ", error, config("sns", secret=KEYS)))
    assert "AKIAFLUXNOTIFYTEST" not in text and "wJalr" not in text and "*****" in text


def test_unreachable_endpoint_is_retryable(monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    shared.forget_clients()
    cfg = config("sns", channel="arn:aws:sns:eu-west-1:123456789012:t", timeout=2.0)
    try:
        with pytest.raises(Exception) as caught:
            shared.client("sns", "eu-west-1", cfg).publish(TopicArn=cfg.channel, Message="m")
    finally:
        shared.forget_clients()
    failure = shared.failure("failed: ", caught.value, cfg)
    assert failure.retryable is True and "EndpointConnectionError" in str(failure)


def test_clients_are_cached_per_region_and_credentials(moto):
    cfg = config("sns")
    first = shared.client("sns", "eu-west-1", cfg)
    assert shared.client("sns", "eu-west-1", cfg) is first
    assert shared.client("sns", "us-east-1", cfg) is not first
    assert shared.client("sns", "us-east-1", cfg).meta.region_name == "us-east-1"
    keyed = shared.client("sns", "eu-west-1", config("sns", secret=KEYS))
    assert keyed is not first
    assert keyed._request_signer._credentials.access_key == "AKIAFLUXNOTIFYTEST"


def test_arns():
    assert shared.parse_arn("arn:aws:events:eu-west-1:123456789012:event-bus/x", "events") == (
        "aws", "eu-west-1", "123456789012", "event-bus/x")
    assert shared.parse_arn("arn:aws:events:eu-west-1:123456789012:event-bus/x", "sns") is None
    assert shared.parse_arn("arn:aws:sns:eu-west-1:12345678901:t", "sns") is None
    assert shared.parse_arn("arn:aws:sns:euwest1:123456789012:t", "sns") is None


def test_boto3_is_not_imported_with_the_providers():
    import subprocess
    import sys

    code = ("import sys; from fluxnotify import providers; providers.get('sns'); providers.get('eventbridge'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
