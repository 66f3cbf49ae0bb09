"""AwsStore against moto: one snapshot per refresh, one call when nothing changed, the last
good snapshot on failure, secrets re-read only on a change, SSM SecureString secrets.
AWS calls are counted with botocore's event hooks."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws
from statetable import create_state_table

from fluxnotify.config.aws import AwsStore
from fluxnotify.config.snapshot import version_parameter
from fluxnotify.settings import Settings
from fluxnotify.transport.http import DeliveryError

PREFIX = "/fluxnotify"


class Calls(Counter):
    """Operation name → calls made, for every client it is attached to."""

    fail: type[Exception] | None = None

    def attach(self, *clients) -> Calls:
        for client in clients:
            client.meta.events.register("before-call.*.*", self._seen)
        return self

    def _seen(self, model, **_) -> None:
        self[model.name] += 1
        if self.fail is not None:
            raise self.fail(endpoint_url="https://ssm.eu-west-1.amazonaws.com")


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.client("ssm"), boto3.client("secretsmanager")


def put_objects(ssm, count: int, address: str = "http://127.0.0.1:9/hook") -> None:
    """count/2 Providers (each with a secretRef) and count/2 Alerts."""
    for i in range(count // 2):
        provider = {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
                    "metadata": {"name": f"p{i}", "namespace": "flux-system"},
                    "spec": {"type": "generic", "address": address, "secretRef": {"name": f"s{i}"}}}
        alert = {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
                 "metadata": {"name": f"a{i}", "namespace": "flux-system"},
                 "spec": {"providerRef": {"name": f"p{i}"}, "eventSources": [{"kind": "Kustomization",
                                                                               "name": f"app-{i}"}]}}
        for obj in (provider, alert):
            ssm.put_parameter(Name=f"{PREFIX}/flux-system/{obj['kind']}/{obj['metadata']['name']}",
                              Type="String", Value=json.dumps(obj))


def bump(ssm, value: str) -> None:
    ssm.put_parameter(Name=version_parameter(PREFIX), Value=value, Type="String", Overwrite=True)


def test_500_objects_cost_52_calls_to_load_and_one_per_unchanged_refresh(aws):
    ssm, secrets = aws
    put_objects(ssm, 500)
    bump(ssm, "v1")
    calls = Calls().attach(ssm, secrets)
    store = AwsStore(PREFIX, "fluxnotify", ttl=0, ssm=ssm, secrets=secrets)
    assert len(store.alerts()) == 250
    assert calls == {"GetParameter": 1, "GetParametersByPath": 51}  # 500 objects + the marker, 10 a page
    calls.clear()
    assert store.provider("flux-system", "p7") is not None
    for _ in range(4):
        store.alerts()
    assert calls == {"GetParameter": 5}  # unchanged: the version marker only
    calls.clear()
    bump(ssm, "v2")
    calls.clear()
    store.alerts()
    assert calls == {"GetParameter": 1, "GetParametersByPath": 51}


def test_without_a_marker_every_refresh_reads_everything(aws):
    ssm, secrets = aws
    put_objects(ssm, 42)
    calls = Calls().attach(ssm, secrets)
    store = AwsStore(PREFIX, "fluxnotify", ttl=0, ssm=ssm, secrets=secrets)
    store.alerts()
    store.alerts()
    assert calls == {"GetParameter": 2, "GetParametersByPath": 10}


def test_a_failed_refresh_keeps_the_last_good_snapshot_with_a_log_line_and_a_metric(aws, caplog):
    ssm, secrets = aws
    put_objects(ssm, 4)
    bump(ssm, "v1")

    class Recorder:
        counted: list[str] = []

        def count(self, name, dimensions=None, value=1):
            self.counted.append(name)

    metrics = Recorder()
    calls = Calls().attach(ssm, secrets)
    store = AwsStore(PREFIX, "fluxnotify", ttl=0, ssm=ssm, secrets=secrets, metrics=metrics)
    before = store.alerts()
    calls.fail = EndpointConnectionError
    assert store.alerts() is before
    assert metrics.counted == ["ConfigRefreshFailed"]
    assert "using the last good snapshot" in caplog.text


def test_the_first_load_failing_raises(aws):
    ssm, secrets = aws
    calls = Calls().attach(ssm)
    calls.fail = EndpointConnectionError
    with pytest.raises(EndpointConnectionError):
        AwsStore(PREFIX, "fluxnotify", ttl=0, ssm=ssm, secrets=secrets).alerts()


def test_secrets_are_read_again_only_when_the_configuration_changed(aws):
    ssm, secrets = aws
    put_objects(ssm, 2)
    bump(ssm, "v1")
    secrets.create_secret(Name="fluxnotify/flux-system/s0", SecretString='{"token": "t-1"}')
    calls = Calls().attach(secrets)
    store = AwsStore(PREFIX, "fluxnotify", ttl=0, ssm=ssm, secrets=secrets)
    for _ in range(3):
        assert store.secret("flux-system", "s0") == {"token": "t-1"}
    assert calls == {"GetSecretValue": 1}
    secrets.put_secret_value(SecretId="fluxnotify/flux-system/s0", SecretString='{"token": "t-2"}')
    assert store.secret("flux-system", "s0") == {"token": "t-1"}  # same config version: cached
    bump(ssm, "v2")  # what `fluxnotify import` does after writing the secret
    assert store.secret("flux-system", "s0") == {"token": "t-2"}
    assert calls["GetSecretValue"] == 2


def test_ssm_secure_string_store_reads_what_import_writes(aws, tmp_path, monkeypatch, capsys):
    from fluxnotify.ops.importer import import_files

    ssm, secrets = aws
    monkeypatch.setenv("SECRET_STORE", "ssm")
    manifest = tmp_path / "flux.yaml"
    manifest.write_text("""
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: flux-system}
spec: {type: generic, address: "http://127.0.0.1:9/x", secretRef: {name: hook-token}}
---
apiVersion: v1
kind: Secret
metadata: {name: hook-token, namespace: flux-system}
stringData: {token: s3cr3t-t0ken}
""")
    assert import_files([str(manifest)], ssm=ssm, secrets=secrets) == 0
    stored = ssm.get_parameter(Name="/fluxnotify-secrets/flux-system/hook-token", WithDecryption=True)
    assert stored["Parameter"]["Type"] == "SecureString"
    assert secrets.list_secrets()["SecretList"] == []
    store = AwsStore(PREFIX, "fluxnotify", ttl=0, ssm=ssm, settings=Settings.from_env())
    assert store.secret("flux-system", "hook-token") == {"token": "s3cr3t-t0ken"}
    assert store.provider("flux-system", "hook") is not None
    assert import_files([str(manifest)], ssm=ssm, secrets=secrets) == 0  # unchanged the second time
    assert "= Secret flux-system/hook-token" in capsys.readouterr().out


def test_a_thousand_events_cost_a_handful_of_config_calls(aws, sink):
    """1,000 events through the dispatcher, each to one Provider with a Secret, in one warm
    environment: the config and secret calls do not grow with the events; the ledger's do."""
    from fluxnotify.delivery.dispatcher import DELIVERED, Dispatcher
    from fluxnotify.queue.messages import Envelope

    ssm, secrets = aws
    put_objects(ssm, 40, address=f"{sink.url}/hook")  # the refresh's cost at 500 objects: see above
    bump(ssm, "v1")
    ssm.put_parameter(Name="/fluxnotify-secrets/flux-system/s3", Type="SecureString", Value='{"token": "t"}')

    class Queue:
        def send(self, body, delay=0):
            raise AssertionError("no follow-up expected")

    from fluxnotify.state.ledger import DynamoLedger
    from fluxnotify.state.stores import Stores

    dynamodb = boto3.client("dynamodb")
    create_state_table(dynamodb)  # as template.yaml defines it
    calls = Calls().attach(ssm, secrets, dynamodb)
    store = AwsStore(PREFIX, "fluxnotify", ttl=3600, ssm=ssm, secrets=secrets)  # no refresh falls due
    dispatcher = Dispatcher(store, Queue(), Queue(), stores=Stores.memory(ledger=DynamoLedger("state", dynamodb)))
    event = {"involvedObject": {"kind": "Kustomization", "name": "app-3", "namespace": "flux-system"},
             "severity": "info", "message": "m", "reason": "ReconciliationSucceeded",
             "reportingController": "kustomize-controller", "timestamp": "2026-11-25T10:15:30Z"}
    delivered = sum(r.outcome == DELIVERED for i in range(1000)
                    for r in dispatcher.handle(Envelope({**event, "message": f"m{i}"}).to_json()))
    assert delivered == 1000
    assert calls == {"GetParameter": 1 + 1, "GetParametersByPath": 5,  # config and the SecureString: once
                     "GetItem": 1000, "UpdateItem": 1000}  # ledger: a read per message, a write per delivery


def concurrently(count: int, call) -> list:
    """``call()`` from ``count`` threads released together; their answers (or errors)."""
    barrier, answers = threading.Barrier(count), [None] * count

    def one(index: int) -> None:
        barrier.wait()
        try:
            answers[index] = call()
        except Exception as err:
            answers[index] = err

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return answers


class SlowReads:
    """Each GetSecretValue takes ``seconds`` (an AWS round trip), so concurrent readers overlap;
    with ``fail`` set it then fails as an unreachable endpoint does."""

    def __init__(self, client, seconds: float = 0.05):
        self.seconds, self.fail = seconds, False
        client.meta.events.register("before-call.secrets-manager.GetSecretValue", self._wait)

    def _wait(self, **_) -> None:
        time.sleep(self.seconds)
        if self.fail:
            raise EndpointConnectionError(endpoint_url="https://secretsmanager.eu-west-1.amazonaws.com")


def test_ten_concurrent_readers_of_a_secret_make_one_read_per_refresh(aws):
    ssm, secrets = aws
    put_objects(ssm, 2)
    bump(ssm, "v1")
    secrets.create_secret(Name="fluxnotify/flux-system/s0", SecretString='{"token": "t-1"}')
    SlowReads(secrets)
    calls = Calls().attach(secrets)
    store = AwsStore(PREFIX, "fluxnotify", ttl=0, ssm=ssm, secrets=secrets)
    store.alerts()  # the snapshot first: the readers race on the secret alone
    assert concurrently(10, lambda: store.secret("flux-system", "s0")) == [{"token": "t-1"}] * 10
    assert calls["GetSecretValue"] == 1

    secrets.put_secret_value(SecretId="fluxnotify/flux-system/s0", SecretString='{"token": "t-2"}')
    bump(ssm, "v2")  # a refresh forgets the secrets: the next readers again make one read
    store.alerts()
    assert concurrently(10, lambda: store.secret("flux-system", "s0")) == [{"token": "t-2"}] * 10
    assert calls["GetSecretValue"] == 2


def test_a_failed_shared_read_fails_its_waiters_and_the_next_reader_reads_again(aws):
    ssm, secrets = aws
    put_objects(ssm, 2)
    bump(ssm, "v1")
    secrets.create_secret(Name="fluxnotify/flux-system/s0", SecretString='{"token": "t-1"}')
    slow = SlowReads(secrets, 0.2)
    calls = Calls().attach(secrets)
    store = AwsStore(PREFIX, "fluxnotify", ttl=60, ssm=ssm, secrets=secrets)
    store.alerts()
    slow.fail = True
    answers = concurrently(10, lambda: store.secret("flux-system", "s0"))
    assert all(isinstance(a, DeliveryError) and a.retryable for a in answers), answers
    assert calls["GetSecretValue"] == 1  # the waiters share the failure instead of queueing nine more
    slow.fail = False
    assert store.secret("flux-system", "s0") == {"token": "t-1"}  # a failure is not remembered
    assert calls["GetSecretValue"] == 2


def test_with_the_ssm_store_a_secret_still_in_secrets_manager_is_read_from_there_with_one_warning(aws, caplog):
    """SecretStore defaults to ssm: a stack deployed before keeps its Secrets in Secrets
    Manager, and the dispatcher keeps delivering with them until `import` moves them."""
    ssm, secrets = aws
    put_objects(ssm, 4)
    bump(ssm, "v1")
    ssm.put_parameter(Name="/fluxnotify-secrets/flux-system/s0", Type="SecureString", Value='{"token": "in-ssm"}')
    secrets.create_secret(Name="fluxnotify/flux-system/s0", SecretString='{"token": "stale-copy"}')
    secrets.create_secret(Name="fluxnotify/flux-system/s1", SecretString='{"token": "not-moved-yet"}')
    calls = Calls().attach(ssm, secrets)
    store = AwsStore(PREFIX, "fluxnotify", ttl=0, ssm=ssm, secrets=secrets)
    assert store.store == "ssm"  # the default
    assert store.secret("flux-system", "s0") == {"token": "in-ssm"}  # SSM first
    assert calls == {"GetParameter": 2, "GetParametersByPath": 1}  # the marker, the SecureString: no Secrets Manager
    assert store.secret("flux-system", "s1") == {"token": "not-moved-yet"}
    assert calls["GetSecretValue"] == 1
    assert store.secret("flux-system", "missing") is None  # in neither store
    warnings = [r for r in caplog.records if r.getMessage().startswith("secret read from Secrets Manager")]
    assert [r.secret for r in warnings] == ["fluxnotify/flux-system/s1"]
    assert "not-moved-yet" not in caplog.text


def test_the_secrets_manager_store_never_looks_in_ssm(aws):
    ssm, secrets = aws
    put_objects(ssm, 2)
    ssm.put_parameter(Name="/fluxnotify-secrets/flux-system/s0", Type="SecureString", Value='{"token": "x"}')
    calls = Calls().attach(ssm, secrets)
    store = AwsStore(PREFIX, "fluxnotify", ttl=0, ssm=ssm, secrets=secrets, store="secretsmanager")
    assert store.secret("flux-system", "s0") is None
    assert calls["GetSecretValue"] == 1 and calls["GetParameter"] <= 1  # the marker at most
