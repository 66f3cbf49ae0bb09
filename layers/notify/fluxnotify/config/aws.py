"""Config from AWS: SSM Parameter Store (Alerts, Providers) and Secrets (secretstore.py).

Refreshes are cheap and never fatal once a snapshot exists (config/snapshot.py):

* every CONFIG_TTL seconds (default 60) one GetParameter reads the version marker; only
  when it changed (or after CONFIG_FULL_TTL, default 900 s, or without a marker) is the
  whole configuration re-read, as one snapshot;
* Secrets are read on first use and kept until the configuration changes (``fluxnotify
  import`` bumps the marker for a changed Secret too) or SECRETS_TTL (default 3600 s, a
  safety net for Secrets edited by hand) passes; concurrent first uses of a Secret (a
  batch's records, right after a refresh) share one read, its value or its failure (single
  flight per Secret and refresh); with SECRET_STORE=ssm (the default) a Secret not in SSM
  is read from Secrets Manager, where stacks from before that default keep them;
* AWS calls retry throttling with botocore's adaptive mode and short timeouts; a refresh
  that still fails keeps the last good snapshot (a log line and ``ConfigRefreshFailed``)
  and a failed secret read keeps the last value read, if any.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future
from typing import Any

from fluxnotify.config.secretstore import read_secret
from fluxnotify.config.snapshot import Snapshot, load_snapshot, read_version
from fluxnotify.metrics import Metrics, NullMetrics
from fluxnotify.model.manifests import Alert, Provider
from fluxnotify.settings import SECRETS_MANAGER, SSM, Settings
from fluxnotify.transport.http import DeliveryError

logger = logging.getLogger(__name__)

RETRY_FAILED_REFRESH = 10.0  # seconds before a failed refresh is tried again


def parameter_name(prefix: str, namespace: str, kind: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{namespace}/{kind}/{name}"


def secret_name(prefix: str, namespace: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{namespace}/{name}"


def aws_client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "adaptive", "max_attempts": 6}, connect_timeout=3, read_timeout=5)
    return boto3.client(service, config=config)


class AwsStore:
    def __init__(
        self,
        config_prefix: str | None = None,
        secrets_prefix: str | None = None,
        ttl: float | None = None,
        ssm: Any = None,
        secrets: Any = None,
        *,
        store: str | None = None,
        metrics: Metrics | None = None,
        settings: Settings | None = None,
    ):
        settings = settings or Settings()
        self.config_prefix = (config_prefix or settings.config_prefix).rstrip("/")
        self.secrets_prefix = secrets_prefix or settings.secrets_prefix
        self.ttl = ttl if ttl is not None else settings.config_ttl
        self.full_ttl = max(self.ttl, settings.config_full_ttl)
        self.secrets_ttl = max(self.ttl, settings.secrets_ttl)
        self.store = store or settings.secret_store
        self._ssm = ssm or aws_client("ssm")
        # Secrets Manager: the store itself, or with ssm the fallback for Secrets stored there
        # before ssm was the default (created on first use).
        self._secrets_manager = secrets
        self.metrics = metrics or NullMetrics()
        self.generation = 0  # changes whenever what provider() or secret() answers may change
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._secret_values: dict[str, dict[str, str] | None] = {}
        self._secret_reads: dict[str, Future] = {}  # reads in flight, of this refresh
        self._last_good_secrets: dict[str, dict[str, str] | None] = {}
        self._secrets_read_at = 0.0
        self._warned_fallback: set[str] = set()
        self._lock = threading.Lock()

    # --- the snapshot ---------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        now = time.monotonic()
        if self._snapshot is None or now >= self._checked_at + self.ttl:
            with self._lock:
                if self._snapshot is None or now >= self._checked_at + self.ttl:
                    self._refresh(now)
        assert self._snapshot is not None
        return self._snapshot

    def _refresh(self, now: float) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            version = read_version(self._ssm, self.config_prefix)
            current = self._snapshot
            if current is None or version is None or version != current.version or (
                now >= current.loaded_at + self.full_ttl
            ):
                self._snapshot = load_snapshot(self._ssm, self.config_prefix, version)
                self._forget_secrets(now)
            elif now >= self._secrets_read_at + self.secrets_ttl:
                self._forget_secrets(now)
            self._checked_at = now
        except (BotoCoreError, ClientError) as err:
            if self._snapshot is None:
                raise  # nothing to fall back on: the batch fails and SQS redelivers it
            logger.error("config refresh failed; using the last good snapshot",
                         extra={"error": str(err)[:300], "snapshot_version": self._snapshot.version})
            self.metrics.count("ConfigRefreshFailed")
            self._checked_at = now - self.ttl + min(self.ttl, RETRY_FAILED_REFRESH)

    def _forget_secrets(self, now: float) -> None:
        self._last_good_secrets.update(self._secret_values)
        self._secret_values, self._secret_reads = {}, {}
        self._secrets_read_at = now
        self.generation += 1

    def alerts(self) -> list[Alert]:
        return self.snapshot().alerts

    def provider(self, namespace: str, name: str) -> Provider | None:
        return self.snapshot().providers.get(f"{namespace}/{name}")

    # --- secrets --------------------------------------------------------------------

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        self.snapshot()  # a due refresh also decides whether secrets are re-read
        key = f"{namespace}/{name}"
        values, reads = self._secret_values, self._secret_reads  # this refresh's
        if key in values:
            return values[key]
        with self._lock:
            led = reads.get(key)
            if led is None:
                read = reads[key] = Future()
        if led is not None:
            return led.result()  # the value the leader read, or its error
        try:
            values[key] = self._read_secret(namespace, name)
            read.set_result(values[key])
        except BaseException as err:
            with self._lock:
                del reads[key]  # a failure is shared by the waiters, not kept: the next reader retries
            read.set_exception(err)
            raise
        return values[key]

    def _read_secret_text(self, name: str) -> str | None:
        """From the store; with ssm, a Secret not there is looked for in Secrets Manager."""
        if self.store == SSM:
            text = read_secret(SSM, self._ssm, name)
            if text is not None:
                return text
        if self._secrets_manager is None:
            self._secrets_manager = aws_client("secretsmanager")
        text = read_secret(SECRETS_MANAGER, self._secrets_manager, name)
        if text is not None and self.store == SSM and name not in self._warned_fallback:
            self._warned_fallback.add(name)
            logger.warning("secret read from Secrets Manager: SecretStore is ssm; `fluxnotify import` stores "
                           "it as a SecureString parameter", extra={"secret": name})
        return text

    def _read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        key = f"{namespace}/{name}"
        try:
            text = self._read_secret_text(secret_name(self.secrets_prefix, namespace, name))
        except (BotoCoreError, ClientError) as err:
            if key in self._last_good_secrets:
                logger.error("secret read failed; using the last value read", extra={"secret": key})
                self.metrics.count("ConfigRefreshFailed")
                return self._last_good_secrets[key]
            raise DeliveryError(f"failed to read secret '{key}': {type(err).__name__}", retryable=True) from None
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            logger.error("secret is not a JSON object", extra={"secret": key})
            return None
        return {str(k): str(v) for k, v in data.items()}
