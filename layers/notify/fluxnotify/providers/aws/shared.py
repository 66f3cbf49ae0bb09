"""What the AWS providers share: the event JSON, boto3 clients cached per region, ARNs, errors.

boto3 is imported on first delivery only (it is in the Lambda runtime, not in the layer).
Credentials are the dispatcher's own (the default chain: the function's role) unless the
Provider's Secret has `aws_access_key_id` and `aws_secret_access_key` (and optionally
`aws_session_token`). `AWS_ENDPOINT_URL` (tests, local emulators) is honoured by boto3 itself.
The SDK's retries are off: a retryable failure goes back through the queue like every other
delivery (DESIGN.md "Delivery and retries").
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Any

from fluxnotify.config.options import ConfigError, ProviderConfig, redact
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.transport.http import DeliveryError

ACCESS_KEY_ID = "aws_access_key_id"
SECRET_ACCESS_KEY = "aws_secret_access_key"
SESSION_TOKEN = "aws_session_token"
_ARN = re.compile(r"^arn:(aws(?:-[a-z]+)*):([a-z0-9-]+):([a-z]{2}(?:-[a-z]+)+-[0-9]+):([0-9]{12}):(.+)$")
# Error codes (ClientError or a failed PutEvents entry) worth another try later.
RETRYABLE_CODES = frozenset({
    "Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException", "SlowDown",
    "KMSThrottlingException", "InternalError", "InternalFailure", "InternalException",
    "InternalErrorException", "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout",
    "RequestTimeoutException", "KMSInternalException",
})  # fmt: skip
# SDK-side errors that no retry can fix (the rest — connection, timeouts — are retried).
_PERMANENT_SDK_ERRORS = frozenset(
    {"NoCredentialsError", "PartialCredentialsError", "NoRegionError", "ParamValidationError", "UnknownEndpointError"}
)

_lock = threading.Lock()
_clients: dict[tuple[str, str, str, float], Any] = {}


def parse_arn(text: str, service: str) -> tuple[str, str, str, str] | None:
    """(partition, region, account, resource) of an ARN of this service, else None."""
    match = _ARN.match(text.strip())
    if match is None or match.group(2) != service:
        return None
    partition, _, region, account, resource = match.groups()
    return partition, region, account, resource


def cluster_of(event: Event) -> str:
    """The cluster the event came from (metadata `cluster`), "" for the unnamed one."""
    return event.metadata.get("cluster", "")


def event_json(event: Event) -> str:
    """The generic provider's body (the event's Go-JSON), plus `cluster`."""
    return gojson.dumps({**event.to_dict(), "cluster": cluster_of(event)})


def check_credentials(cfg: ProviderConfig) -> None:
    """Static keys come as a pair (or not at all: the dispatcher's role)."""
    if bool(cfg.secret.get(ACCESS_KEY_ID)) != bool(cfg.secret.get(SECRET_ACCESS_KEY)):
        raise ConfigError(
            f"invalid AWS credentials in secret: set both '{ACCESS_KEY_ID}' and '{SECRET_ACCESS_KEY}', "
            "or neither to use the dispatcher's own role"
        )


def _credentials(cfg: ProviderConfig) -> dict[str, str]:
    names = (ACCESS_KEY_ID, SECRET_ACCESS_KEY, SESSION_TOKEN)
    return {name: cfg.secret[name] for name in names if cfg.secret.get(name)}


def client(service: str, region: str, cfg: ProviderConfig) -> Any:
    """A boto3 client, kept for the life of the process per (service, region, credentials, timeout).
    ``region`` "" means the default chain's (AWS_REGION / AWS_DEFAULT_REGION)."""
    credentials = _credentials(cfg)
    fingerprint = hashlib.sha256("\0".join(sorted(credentials.values())).encode()).hexdigest()
    key = (service, region, fingerprint, cfg.timeout)
    with _lock:  # boto3 sessions are not thread-safe to create clients from; clients are
        found = _clients.get(key)
        if found is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=cfg.timeout, read_timeout=cfg.timeout, retries={"total_max_attempts": 1}
            )
            session = boto3.session.Session(**credentials)
            found = session.client(service, region_name=region or None, config=config)
            _clients[key] = found
        return found


def forget_clients() -> None:
    """Drop the cached clients (tests; a new endpoint or moto context)."""
    with _lock:
        _clients.clear()


def error_code(err: BaseException) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def failure(prefix: str, err: Exception, cfg: ProviderConfig) -> DeliveryError:
    """A boto3 error as a classified DeliveryError: throttling, 5xx and connection errors are
    retried; access, not-found and invalid-parameter errors are not. Secrets masked."""
    code = error_code(err)
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0) or None
        text = response.get("Error", {}).get("Message", "") or str(err)
        retryable = code in RETRYABLE_CODES or (status is not None and status >= 500 and status != 501)
        detail = f"{code or status}: {text}"
    else:
        status = None
        names = {cls.__name__ for cls in type(err).__mro__}
        retryable = not (names & _PERMANENT_SDK_ERRORS)
        detail = f"{type(err).__name__}: {err}"
    message = prefix + " ".join(detail.split())
    return DeliveryError(redact(message, cfg.sensitive_values()), retryable=retryable, status=status)
