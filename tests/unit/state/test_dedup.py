"""Fixed-window duplicate suppression (spec §2.6), SQLite and DynamoDB (moto)."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from fluxnotify.model.event import Event, ObjectRef
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.dedup import DynamoDedup, SqliteDedup, dedup_key, window_end


@pytest.fixture(params=["sqlite", "dynamodb"])
def store(request, tmp_path, monkeypatch):
    if request.param == "sqlite":
        yield SqliteDedup(SqliteDatabase(str(tmp_path / "dedup.db")), interval=300)
        return
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="dedup", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        )
        yield DynamoDedup("dedup", interval=300, client=client)


def test_fixed_window_anchored_at_first_sighting(store):
    t0 = 1_000_000.0
    assert store.take("k", t0).allowed
    refused = store.take("k", t0 + 10)
    assert not refused.allowed and refused.reset == t0 + 300
    assert not store.take("k", t0 + 299.9).allowed
    second_window = store.take("k", t0 + 450)
    assert second_window.allowed and second_window.reset == t0 + 600
    assert not store.take("k", t0 + 599).allowed
    assert store.take("other", t0 + 10).allowed


def test_key_unused_for_two_windows_starts_a_new_anchor(store):
    t0 = 2_000_000.0
    assert store.take("k", t0).allowed
    later = store.take("k", t0 + 700)  # window end t0+300, forgotten after another interval
    assert later.allowed and later.reset == t0 + 1000


def test_window_end_arithmetic():
    assert window_end(100.0, 10.0, 100.0) == 110.0
    assert window_end(100.0, 10.0, 125.0) == 130.0


# --- the key ------------------------------------------------------------------------------------

KS_GROUP = "kustomize.toolkit.fluxcd.io"
PINNED_KEY = "39bb20a0f18016c7b177056520b6a286dbb3d5b6fa7abc5eb35fe4704526a3e7"


def ks_event(metadata: dict[str, str] | None = None, message: str = "applied", name: str = "apps",
             **changes) -> Event:
    ref = ObjectRef(kind="Kustomization", namespace="flux-system", name=name, api_version=f"{KS_GROUP}/v1")
    values = {"involved_object": ref, "severity": "info", "message": message, "reason": "ReconciliationSucceeded",
              "metadata": dict(metadata or {}), "reporting_controller": "kustomize-controller", **changes}
    return Event(**values)


def test_key_is_pinned_so_an_upgrade_does_not_reopen_every_window():
    event = ks_event({f"{KS_GROUP}/revision": "main@sha1:1234"})
    assert dedup_key(event) == dedup_key(event, "default") == PINNED_KEY


def test_key_reads_the_references_fields_and_no_other():
    base = ks_event({f"{KS_GROUP}/revision": "r"})
    same = ks_event({f"{KS_GROUP}/revision": "r", f"{KS_GROUP}/other": "x", "revision": "bare"},
                    severity="error", reason="Other", timestamp=datetime(2020, 1, 1, tzinfo=UTC),
                    reporting_controller="x")
    assert dedup_key(base) == dedup_key(same)
    for key in ("originRevision", "token"):
        assert dedup_key(ks_event({f"{KS_GROUP}/revision": "r", f"{KS_GROUP}/{key}": "v"})) != dedup_key(base)
    assert dedup_key(ks_event({f"{KS_GROUP}/revision": "r2"})) != dedup_key(base)
    assert dedup_key(ks_event({f"{KS_GROUP}/revision": "r"}, message="other")) != dedup_key(base)
    assert dedup_key(ks_event({f"{KS_GROUP}/revision": "r"}, name="web")) != dedup_key(base)


@pytest.mark.parametrize("forged", [
    ks_event({f"{KS_GROUP}/revision": "R/cluster=prod"}),  # the revision imitates the cluster field
    ks_event({f"{KS_GROUP}/revision": "R"}, message="applied/cluster=prod"),  # so does the message
    ks_event({f"{KS_GROUP}/revision": "R"}, message="applied/revision=R/cluster=prod"),
    ks_event({f"{KS_GROUP}/token": "x/cluster=prod"}, message="applied/revision=R"),
])
def test_no_field_value_of_the_default_cluster_imitates_another_cluster(forged):
    assert dedup_key(forged, "default") != dedup_key(ks_event({f"{KS_GROUP}/revision": "R"}), "prod")


def test_no_field_value_imitates_another_field():
    with_revision = ks_event({f"{KS_GROUP}/revision": "R"})
    assert dedup_key(ks_event(message="applied/revision=R")) != dedup_key(with_revision)
    assert dedup_key(ks_event({f"{KS_GROUP}/revision": ""})) != dedup_key(ks_event())  # present but empty
    assert dedup_key(ks_event(), "default") != dedup_key(ks_event(), "prod")
    assert dedup_key(ks_event(), "prod") != dedup_key(ks_event(), "prod2")


def test_forged_and_real_keys_both_pass_in_the_store(store):
    forged = dedup_key(ks_event({f"{KS_GROUP}/revision": "R/cluster=prod"}), "default")
    real = dedup_key(ks_event({f"{KS_GROUP}/revision": "R"}), "prod")
    queued: list[str] = []
    assert store.admit(forged, lambda: queued.append("forged"), 1_000_000.0).allowed
    assert store.admit(real, lambda: queued.append("real"), 1_000_001.0).allowed
    assert not store.admit(real, lambda: queued.append("again"), 1_000_002.0).allowed
    assert queued == ["forged", "real"]
