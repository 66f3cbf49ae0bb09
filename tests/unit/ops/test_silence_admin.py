"""`fluxnotify silence add|list|expire` on serve's SQLite file and on AWS (moto: --table, --stack)."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws

from fluxnotify.ops.cli import main
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.silences import MAX_SILENCES, DynamoSilences, SqliteSilences


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "serve.db")
    SqliteDatabase(path)  # what serve creates
    return path


@pytest.fixture
def aws(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(TableName="fluxnotify-state", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
                    "Outputs": {"DedupTableName": {"Value": "fluxnotify-state"}}}
        boto3.client("cloudformation").create_stack(StackName="fluxnotify", TemplateBody=json.dumps(template))
        yield client


def _add(capsys, where: list[str], *extra: str) -> str:
    assert main(["silence", "add", *where, *extra]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out.strip()
    assert len(out) == 12 and out.isalnum()  # stdout: the id alone, for scripts
    return out


@pytest.mark.parametrize("where", ["db", "table", "stack"])
def test_add_list_expire(where, request, capsys):
    if where == "db":
        path = request.getfixturevalue("db")
        args, store = ["--db", path], SqliteSilences(SqliteDatabase(path))
    else:
        client = request.getfixturevalue("aws")
        args = ["--table", "fluxnotify-state"] if where == "table" else ["--stack", "fluxnotify"]
        store = DynamoSilences("fluxnotify-state", client)
    first = _add(capsys, args, "--match", "kind=Kustomization,namespace=apps,name='web-*'", "--for", "2h",
                 "--comment", "db migration", "--author", "ana")
    second = _add(capsys, args, "--cluster", "prod", "--until",
                  time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400)))
    (stored,) = [s for s in store.load() if s.id == first]
    assert stored.matchers == (("kind", "Kustomization"), ("namespace", "apps"), ("name", "web-*"))
    assert 7190 < stored.ends_at - stored.starts_at <= 7200 and stored.created_by == "ana"
    assert main(["silence", "list", *args]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["ID", "MATCHES", "STATE", "BY", "COMMENT"]
    assert listed[1].startswith(first) and "kind=Kustomization,namespace=apps,name=web-*" in listed[1]
    assert listed[1].endswith("db migration") and listed[2].startswith(second) and "cluster=prod" in listed[2]
    assert main(["silence", "expire", first, *args]) == 0
    assert f"silence {first} expired" in capsys.readouterr().err
    assert main(["silence", "list", *args, "-o", "json"]) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == [second]
    assert main(["silence", "list", *args, "--all", "-o", "json"]) == 0
    shown = {s["id"]: s for s in json.loads(capsys.readouterr().out)}
    assert shown[first]["active"] is False and shown[second]["active"] is True
    assert main(["silence", "expire", first, *args]) == 2
    assert "has ended already" in capsys.readouterr().err


@pytest.mark.parametrize("argv,problem", [
    (["--match", "colour=red", "--for", "1h"], "--match 'colour=red': expected KEY=GLOB"),
    (["--match", "name=a", "--for", "2 hours"], "--for: '2 hours' is not a duration"),
    (["--match", "name=a", "--until", "tomorrow"], "--until: 'tomorrow' is not an RFC 3339 time"),
    (["--match", "name=a", "--until", "2030-01-01T00:00:00"], "has no time zone"),
    (["--match", "name=a", "--for", "2400h"], "at most 90 days"),
    (["--for", "1h"], "needs --match or --cluster"),
])
def test_mistakes_are_one_line_errors(db, capsys, argv, problem):
    assert main(["silence", "add", "--db", db, *argv]) == 2
    err = capsys.readouterr().err
    assert problem in err and err.count("\n") == 1 and "Traceback" not in err
    assert SqliteSilences(SqliteDatabase(db)).load() == []


def test_a_missing_database_or_stack_output_is_named(tmp_path, aws, capsys):
    assert main(["silence", "list", "--db", str(tmp_path / "nope.db")]) == 2
    assert "nope.db: no such local stack database" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    boto3.client("cloudformation").create_stack(StackName="bare", TemplateBody=json.dumps(template))
    assert main(["silence", "list", "--stack", "bare"]) == 2
    assert "stack bare has no output DedupTableName: pass --table" in capsys.readouterr().err
    assert main(["silence", "list", "--table", "missing-table"]) == 2
    assert capsys.readouterr().err.startswith("fluxnotify: AWS error:")


def test_the_hundred_and_first_active_silence_is_refused(db, capsys):
    for index in range(MAX_SILENCES):
        _add(capsys, ["--db", db], "--match", f"name=app-{index}", "--for", "1h")
    assert main(["silence", "add", "--db", db, "--match", "name=one-more", "--for", "1h"]) == 2
    assert "100 silences are active already: expire one first" in capsys.readouterr().err


def test_render_db_shows_the_silence_that_would_apply(db, tmp_path, capsys):
    manifests = tmp_path / "m.yaml"
    manifests.write_text("""
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: apps}
spec: {type: generic, address: "http://127.0.0.1:9/hook"}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: hook, namespace: apps}
spec:
  providerRef: {name: hook}
  eventSources: [{kind: Kustomization, name: '*'}]
""")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"involvedObject": {"kind": "Kustomization", "namespace": "apps", "name": "web-1"},
                                 "severity": "info", "reason": "ReconciliationSucceeded", "message": "applied"}))
    argv = ["render", "-f", str(manifests), "--event", str(event)]
    silence = _add(capsys, ["--db", db], "--match", "namespace=apps,name=web-*", "--for", "1h", "--comment", "moving")
    assert main([*argv, "--db", db]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert shown["skipped"].startswith(f"silenced by {silence} until ") and shown["skipped"].endswith(": moving")
    assert main(argv) == 0  # without --db: no silence
    (plain,) = json.loads(capsys.readouterr().out)
    assert plain["skipped"] is None and len(plain["deliveries"]) == 1
    assert main([*argv, "--db", str(tmp_path / "none.db")]) == 2
    assert "none.db: no such local stack database" in capsys.readouterr().err


def test_a_damaged_silences_item_is_a_one_line_error(aws, capsys):
    aws.put_item(TableName="fluxnotify-state", Item={"pk": {"S": "silences#list"}, "body": {"S": "{not json"},
                                                     "version": {"N": "3"}})
    assert main(["silence", "list", "--table", "fluxnotify-state"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fluxnotify: the stored silences are not readable") and "Traceback" not in err
    aws.put_item(TableName="fluxnotify-state", Item={"pk": {"S": "silences#list"}, "version": {"N": "4"},
                                                     "body": {"S": json.dumps([
                                                         {"id": "x"},
                                                         {"id": "all", "matchers": {}, "starts_at": 1, "ends_at": 4e9},
                                                         {"id": "odd", "matchers": {"colour": "red"}, "starts_at": 1,
                                                          "ends_at": 4e9},
                                                         {"id": "ok", "matchers": {"name": "a"}, "starts_at": 1,
                                                          "ends_at": 4e9}])}})
    assert main(["silence", "list", "--table", "fluxnotify-state", "-o", "json"]) == 0  # the bad entries left out
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == ["ok"]
