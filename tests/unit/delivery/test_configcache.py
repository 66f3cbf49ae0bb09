"""The per-Provider and per-Alert resolved configs (delivery/configcache.py): kept per object and
store generation, so a delivery neither resolves nor copies them, and a new configuration
snapshot (a new version marker) or a secret refresh is seen at once."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from fluxnotify.config.aws import AwsStore
from fluxnotify.config.snapshot import version_parameter
from fluxnotify.delivery.configcache import ResolvedConfigs

PREFIX = "/fluxnotify"


@pytest.fixture
def ssm(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("ssm")
        yield client


def put(ssm, address: str, alert_name: str = "to-hook", version: str = "v1") -> None:
    objects = [
        {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
         "metadata": {"name": "hook", "namespace": "apps"},
         "spec": {"type": "generic", "address": address, "secretRef": {"name": "hook"}}},
        {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
         "metadata": {"name": alert_name, "namespace": "apps", "uid": f"uid-{alert_name}"},
         "spec": {"providerRef": {"name": "hook"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]}},
    ]
    for obj in objects:
        ssm.put_parameter(Name=f"{PREFIX}/apps/{obj['kind']}/{obj['metadata']['name']}", Type="String",
                          Value=json.dumps(obj), Overwrite=True)
    ssm.put_parameter(Name=version_parameter(PREFIX), Value=version, Type="String", Overwrite=True)


def put_secret(ssm, headers: str) -> None:
    ssm.put_parameter(Name="/fluxnotify-secrets/apps/hook", Type="SecureString", Overwrite=True,
                      Value=json.dumps({"headers": headers}))


def store(ssm) -> AwsStore:
    return AwsStore(PREFIX, "fluxnotify", ttl=0, ssm=ssm, secrets=ssm, store="ssm")  # secrets: /fluxnotify-secrets/…


def current(store: AwsStore):
    (alert,) = store.alerts()
    return store.provider("apps", "hook"), alert


def test_an_alerts_config_is_kept_and_names_the_alert(ssm):
    put(ssm, "http://127.0.0.1:9/one")
    put_secret(ssm, "X-Token: a")
    aws = store(ssm)
    configs = ResolvedConfigs(aws)
    provider, alert = current(aws)
    first = configs.for_alert(provider, alert)
    assert first.alert == ("apps", "to-hook", "uid-to-hook") and first.headers == {"X-Token": "a"}
    assert configs.for_alert(*current(aws)) is first  # the same snapshot: no copy per delivery
    assert configs.get(provider).alert is None  # the Provider's own config is left as it was


def test_a_new_snapshot_version_replaces_the_alerts_config(ssm):
    put(ssm, "http://127.0.0.1:9/one")
    put_secret(ssm, "X-Token: a")
    aws = store(ssm)
    configs = ResolvedConfigs(aws)
    first = configs.for_alert(*current(aws))
    put(ssm, "http://127.0.0.1:9/two", alert_name="renamed", version="v2")
    ssm.delete_parameter(Name=f"{PREFIX}/apps/Alert/to-hook")
    second = configs.for_alert(*current(aws))
    assert (second.address, second.alert) == ("http://127.0.0.1:9/two", ("apps", "renamed", "uid-renamed"))
    assert first.address == "http://127.0.0.1:9/one"


def test_secrets_read_again_give_the_alert_a_new_config_under_the_same_snapshot(ssm):
    put(ssm, "http://127.0.0.1:9/one")
    put_secret(ssm, "X-Token: a")
    aws = store(ssm)
    configs = ResolvedConfigs(aws)
    assert configs.for_alert(*current(aws)).headers == {"X-Token": "a"}
    put_secret(ssm, "X-Token: b")
    assert configs.for_alert(*current(aws)).headers == {"X-Token": "a"}  # kept until the secrets are re-read
    aws.secrets_ttl = 0.0  # their time is up: the next refresh forgets them (a new generation)
    assert configs.for_alert(*current(aws)).headers == {"X-Token": "b"}
