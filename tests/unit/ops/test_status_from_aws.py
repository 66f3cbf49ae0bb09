"""`fluxnotify status --from-aws` / `--stack` on moto: it reads only the status items (the
state table's keys-only ``status`` index, then those items), never the ledger beside them."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from moto import mock_aws
from statetable import create_state_table

from fluxnotify.ops.cli import main
from fluxnotify.ops.status import aws_snapshot
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.status import DELIVERED, HOUR, RETRYING, Outcome
from fluxnotify.state.status_dynamo import DynamoStatus
from fluxnotify.state.status_sqlite import SqliteStatus

NOW = time.time() // HOUR * HOUR - 1800  # half past the hour before this one: `status` reads the clock


def outcome(provider: str, at: float, result: str = DELIVERED) -> Outcome:
    # No Alert: each Provider is one pair ("", Provider): a head and one item per hour.
    return Outcome(at=at, alert="", provider=provider, provider_type="slack", outcome=result,
                   detail="HTTP 503" if result == RETRYING else "", object="Kustomization/ns/app", reason="Progressing")


OUTCOMES = [outcome("ns/slack", NOW - HOUR), outcome("ns/slack", NOW - 60, RETRYING), outcome("ns/teams", NOW - 30)]


@pytest.fixture
def table(monkeypatch):
    for key, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(key, value)
    for name in ("AWS_ENDPOINT_URL", "STATE_TABLE", "QUEUE_URL", "DLQ_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_state_table(client)
        for start in range(0, 1000, 25):  # the delivery ledger beside status: 1,000 items
            client.batch_write_item(RequestItems={"state": [
                {"PutRequest": {"Item": {"pk": {"S": f"ledger#{n:04d}"}, "done": {"SS": ["ns/to-slack"]},
                                         "expires_at": {"N": str(int(NOW) + 86400)}}}}
                for n in range(start, start + 25)]})
        DynamoStatus("state", client).write(OUTCOMES)
        yield client


def read_items(client) -> dict[str, int]:
    """Items each read returned, by operation, counted on the client's answers."""
    returned: dict[str, int] = {}

    def count(model, parsed, **_):
        items = parsed.get("Items") or [i for found in parsed.get("Responses", {}).values() for i in found]
        returned[model.name] = returned.get(model.name, 0) + len(items)

    client.meta.events.register("after-call.dynamodb", count)
    return returned


def test_status_reads_the_five_status_items_and_not_the_thousand_ledger_items(table):
    assert len(table.scan(TableName="state")["Items"]) == 1005  # slack: head + 2 hours; teams: head + 1 hour
    returned = read_items(table)
    objects = aws_snapshot("state", None, None, dynamodb=table).objects
    assert returned == {"Query": 5, "BatchGetItem": 5}  # the index's keys (heads, the last day's hours), the items
    expected = SqliteStatus(SqliteDatabase(":memory:"))
    expected.write(OUTCOMES)
    assert [o.as_dict() for o in DynamoStatus("state", table).objects(now=NOW)] == [
        o.as_dict() for o in expected.objects(now=NOW)]
    assert [o.key for o in objects] == ["ns/slack", "ns/teams"]


def test_hour_items_older_than_a_day_are_not_listed_or_read(table):
    DynamoStatus("state", table).write([outcome("ns/slack", NOW - 3 * 86400)])  # kept until TTL deletes it
    returned = read_items(table)
    (slack, _teams) = DynamoStatus("state", table).objects(now=NOW)
    assert returned == {"Query": 5, "BatchGetItem": 5}  # its day's part of the index is not queried
    assert slack.last_day == {DELIVERED: 1, RETRYING: 1}


def test_status_stack_reads_the_table_and_queues_from_the_stack_outputs(table, capsys):
    sqs = boto3.client("sqs")
    queue, dlq = (sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("events", "dead"))
    sqs.send_message(QueueUrl=dlq, MessageBody="{}")
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {"DedupTableName": {"Value": "state"}, "EventsQueueUrl": {"Value": queue},
                            "EventsDLQUrl": {"Value": dlq}}}
    boto3.client("cloudformation").create_stack(StackName="fluxnotify", TemplateBody=json.dumps(template))
    assert main(["status", "--stack", "fluxnotify", "-o", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [o["name"] for o in shown["objects"]] == ["ns/slack", "ns/teams"]
    assert (shown["queue"]["depth"], shown["queue"]["deadLetters"]) == (0, 1)


def test_status_stack_errors_are_one_line(table, capsys):
    assert main(["status", "--stack", "missing"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fluxnotify: status: stack missing:") and len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit):
        main(["status", "--stack", "fluxnotify", "--db", "x.db"])
    assert "not allowed with argument" in capsys.readouterr().err
