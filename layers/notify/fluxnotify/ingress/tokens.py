"""The receiver's webhook tokens on AWS: the token secret read from Secrets Manager, cached.

The secret is read on the first request, then at most every ``max_age`` seconds (5 minutes,
so a rotation takes effect soon). A read that fails keeps the last good tokens for another
period; with none yet, the error reaches the receiver, which answers 503 (Flux retries).
A plain boto3 call rather than Powertools' parameters utility: importing that package pulls
in its AppConfig provider and s3transfer, which the receiver's cold start cannot afford.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from fluxnotify.ingress.clusters import TokenMap, parse_token_secret

logger = logging.getLogger(__name__)


class SecretTokens:
    """Callable token source for ``Receiver(token=...)``: the cluster → tokens map."""

    def __init__(self, secret_id: str, client: Any = None, max_age: float = 300.0):
        self.secret_id = secret_id
        self.max_age = max_age
        self._client = client
        self._tokens: TokenMap | None = None
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def __call__(self) -> TokenMap:
        with self._lock:
            if self._tokens is None or time.monotonic() - self._read_at >= self.max_age:
                self._refresh()
            assert self._tokens is not None  # _refresh raises when it has none to keep
            return self._tokens

    def _refresh(self) -> None:
        try:
            # AWSCURRENT named: the default, but `fluxnotify cluster` moves the label itself.
            answer = self._secrets().get_secret_value(SecretId=self.secret_id, VersionStage="AWSCURRENT")
            text = answer["SecretString"]
            self._tokens = parse_token_secret(text)
        except Exception as err:
            if self._tokens is None:
                raise
            # Never the secret's text: only the kind of failure.
            logger.warning("webhook token secret not refreshed; keeping the last good tokens",
                           extra={"error": type(err).__name__})
        self._read_at = time.monotonic()

    def _secrets(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("secretsmanager")
        return self._client
