"""Runtime settings, read once from the environment and handed down.

The Lambda handlers (functions/*/app.py) and the local stack (ops/local.py) call
``Settings.from_env()`` once and pass the result (or the fields a part needs) to what they
build; no library module reads ``os.environ`` itself, so a test or `serve` sets a value by
constructing Settings, and what a process runs with is visible in one place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

SECRETS_MANAGER, SSM = "secretsmanager", "ssm"
DEFAULT_MAX_BODY = 256 * 1024
DEFAULT_MAX_BACKLOG = 10_000  # a few seconds of the local stack's top rate
DEFAULT_MAX_ATTEMPTS = 9  # back-off 30 s … 900 s: retries span about an hour
DEFAULT_RETRY_BASE = 30.0
DEFAULT_LEDGER_TTL = 14 * 24 * 3600  # the DLQ's retention: a replayed dead letter still skips what was sent


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Settings:
    # queues and tables (AWS)
    queue_url: str = ""
    dlq_url: str = ""
    dedup_table: str = ""
    state_table: str = ""  # ledger, status, digests, threads; "" = none (or serve's SQLite file)
    # configuration store (AWS)
    config_prefix: str = "/fluxnotify"
    secrets_prefix: str = "fluxnotify"
    secret_store: str = SSM  # SecureString parameters: no charge per Secret (issue 23)
    config_ttl: float = 60.0
    config_full_ttl: float = 900.0
    secrets_ttl: float = 3600.0  # a safety net: `import` bumps the marker, which re-reads them at once
    webhook_token_secret: str = ""
    # receiver
    rate_limit_interval: float = 300.0  # duplicate window, seconds; 0 turns it off
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_backlog: int = DEFAULT_MAX_BACKLOG  # serve: events due in its queue at most, then 503; 0: no bound
    # delivery
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_base: float = DEFAULT_RETRY_BASE
    ledger_ttl: int = DEFAULT_LEDGER_TTL
    no_cross_namespace_refs: bool = False
    max_workers: int = 32  # deliveries in flight per dispatcher
    visibility_timeout: float = 90.0  # serve's queue: > the longest delivery
    # observability
    tracing: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment (DESIGN.md "Conventions"); ValueError names a bad variable."""
        env = os.environ if environ is None else environ
        defaults = cls()

        def number(name: str, default: float, kind: type = float) -> float:
            text = env.get(name, "").strip()
            if not text:
                return default
            try:
                return kind(text)
            except ValueError:
                raise ValueError(f"{name}={text!r} is not a number") from None

        store = env.get("SECRET_STORE", SSM).strip().lower() or SSM
        if store not in (SECRETS_MANAGER, SSM):
            raise ValueError(f"SECRET_STORE must be {SECRETS_MANAGER} or {SSM}, not {store!r}")
        return cls(
            queue_url=env.get("QUEUE_URL", ""),
            dlq_url=env.get("DLQ_URL", ""),
            dedup_table=env.get("DEDUP_TABLE", ""),
            state_table=env.get("STATE_TABLE", ""),
            config_prefix=env.get("CONFIG_PREFIX") or defaults.config_prefix,
            secrets_prefix=env.get("SECRETS_PREFIX") or defaults.secrets_prefix,
            secret_store=store,
            config_ttl=number("CONFIG_TTL", defaults.config_ttl),
            config_full_ttl=number("CONFIG_FULL_TTL", defaults.config_full_ttl),
            secrets_ttl=number("SECRETS_TTL", defaults.secrets_ttl),
            webhook_token_secret=env.get("WEBHOOK_TOKEN_SECRET", ""),
            rate_limit_interval=number("RATE_LIMIT_INTERVAL", defaults.rate_limit_interval),
            max_body_bytes=int(number("MAX_BODY_BYTES", defaults.max_body_bytes, int)),
            max_backlog=int(number("MAX_BACKLOG", defaults.max_backlog, int)),
            max_attempts=int(number("MAX_ATTEMPTS", defaults.max_attempts, int)) or defaults.max_attempts,
            retry_base=number("RETRY_BASE_SECONDS", defaults.retry_base),
            ledger_ttl=int(number("LEDGER_TTL", defaults.ledger_ttl, int)),
            no_cross_namespace_refs=_flag(env.get("NO_CROSS_NAMESPACE_REFS")),
            visibility_timeout=number("FLUXNOTIFY_VISIBILITY_TIMEOUT", defaults.visibility_timeout),
            tracing=env.get("FLUXNOTIFY_TRACING") == "true",
        )

    def as_dict(self) -> dict[str, object]:
        """For a child process (serve's dispatcher): Settings(**as_dict()) is equal."""
        return dict(self.__dict__)

    def but(self, **changes: object) -> Settings:
        """A copy with some fields changed (command-line flags over the environment)."""
        return replace(self, **changes)  # type: ignore[arg-type]
