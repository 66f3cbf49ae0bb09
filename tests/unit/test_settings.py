"""Settings: read once from the environment, every field with the variable that sets it."""

from __future__ import annotations

import pytest

from fluxnotify.settings import Settings


def test_defaults_without_environment():
    settings = Settings.from_env({})
    assert settings == Settings()
    assert (settings.max_attempts, settings.retry_base, settings.rate_limit_interval) == (9, 30.0, 300.0)
    assert settings.state_table == "" and settings.no_cross_namespace_refs is False


def test_every_variable_is_read():
    env = {"QUEUE_URL": "q", "DLQ_URL": "d", "DEDUP_TABLE": "dd", "STATE_TABLE": "st", "CONFIG_PREFIX": "/p",
           "SECRETS_PREFIX": "s", "SECRET_STORE": "SSM", "CONFIG_TTL": "5", "MAX_BODY_BYTES": "1000",
           "MAX_ATTEMPTS": "3", "RETRY_BASE_SECONDS": "0.5", "LEDGER_TTL": "60", "RATE_LIMIT_INTERVAL": "0",
           "NO_CROSS_NAMESPACE_REFS": "True", "WEBHOOK_TOKEN_SECRET": "arn", "FLUXNOTIFY_TRACING": "true"}
    s = Settings.from_env(env)
    assert (s.queue_url, s.dlq_url, s.dedup_table, s.state_table) == ("q", "d", "dd", "st")
    assert (s.config_prefix, s.secrets_prefix, s.secret_store, s.config_ttl) == ("/p", "s", "ssm", 5.0)
    assert (s.max_body_bytes, s.max_attempts, s.retry_base, s.ledger_ttl) == (1000, 3, 0.5, 60)
    assert s.rate_limit_interval == 0 and s.no_cross_namespace_refs and s.tracing
    assert s.webhook_token_secret == "arn"
    assert Settings(**s.as_dict()) == s  # what serve hands its dispatcher process


@pytest.mark.parametrize(("env", "named"), [
    ({"MAX_ATTEMPTS": "many"}, "MAX_ATTEMPTS='many'"),
    ({"RETRY_BASE_SECONDS": "1s"}, "RETRY_BASE_SECONDS"),
    ({"SECRET_STORE": "vault"}, "SECRET_STORE must be secretsmanager or ssm, not 'vault'"),
])
def test_a_bad_value_names_its_variable(env, named):
    with pytest.raises(ValueError) as err:
        Settings.from_env(env)
    assert named in str(err.value)


def test_but_changes_only_what_it_names():
    base = Settings.from_env({"MAX_ATTEMPTS": "4"})
    changed = base.but(no_cross_namespace_refs=True)
    assert changed.no_cross_namespace_refs and changed.max_attempts == 4 and not base.no_cross_namespace_refs
