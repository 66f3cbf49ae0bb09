"""The AWS requests both Lambda handlers make per event, counted on moto as the cost benchmark
counts them (tests/costrun.py, bench/cost.py): a change that adds a request, a DynamoDB write
unit or a log line per event fails here. The cost work of issue 23 lowers these figures:
change them here, with the reason, when it does."""

from __future__ import annotations

from collections import Counter

import costrun
import pytest

EVENTS, PROVIDERS, BATCH = 20, 3, 10

EXPECTED = {
    # AWS requests per event, by function: (service, operation) → requests.
    "per_event": {
        "receiver": {("dynamodb", "GetItem"): 1, ("dynamodb", "PutItem"): 1, ("dynamodb", "UpdateItem"): 1,
                     ("sqs", "SendMessage"): 1},
        # ledger: 1 read, 1 write per delivery; status: 1 transaction of 12 items (4 per delivery)
        "dispatcher": {("dynamodb", "GetItem"): 1, ("dynamodb", "UpdateItem"): 3,
                       ("dynamodb", "TransactWriteItems"): 1},
    },
    # Once per warm environment and refresh (a run shorter than every TTL): the token secret;
    # the config marker, one page of objects and each of the 3 Secrets once (single flight);
    # the silences item (one GetItem per 30 s, state/silences.py).
    "per_run": {
        "receiver": {("secretsmanager", "GetSecretValue"): 1},
        "dispatcher": {("ssm", "GetParameter"): 1, ("ssm", "GetParametersByPath"): 1,
                       ("secretsmanager", "GetSecretValue"): 3, ("dynamodb", "GetItem"): 1},
    },
    # DynamoDB billed units per event: (item kind, unit) → units. Status: 12 items × 2 (transaction).
    "units_per_event": {("dedup", "WRU"): 2, ("dedup", "RRU"): 1, ("ledger", "WRU"): 3, ("ledger", "RRU"): 0.5,
                        ("status", "WRU"): 24},
    "sqs_chunks_per_event": 1,
    # Log lines other than EMF documents per event: the receiver none (errors and refusals only),
    # the dispatcher one per message ("delivered").
    "log_lines_per_event": {"receiver": 0, "dispatcher": 1},
}


@pytest.fixture(scope="module")
def run():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONFIG_TTL", "3600")  # no refresh inside the run, however slow the machine
        # Requests held 5 ms (an AWS round trip), so a batch's records overlap as on Lambda.
        return costrun.run(EVENTS, clusters=200, secrets=250, batch=BATCH, aws_ms=5)


def test_every_event_is_delivered_to_its_three_providers(run):
    assert run.delivered == EVENTS * PROVIDERS
    assert run.problems == []


@pytest.mark.parametrize("function", ["receiver", "dispatcher"])
def test_requests_per_event(run, function):
    expected = Counter({op: n * EVENTS for op, n in EXPECTED["per_event"][function].items()})
    expected.update(EXPECTED["per_run"][function])
    assert run.calls.count(function) == expected


def test_dynamodb_units_per_event(run):
    units = {(label, unit): run.calls.units(service="dynamodb", label=label, unit=unit) / EVENTS
             for label, unit in EXPECTED["units_per_event"]}
    assert units == EXPECTED["units_per_event"]
    silences = run.calls.units(service="dynamodb", label="silences")
    assert silences == 0.5  # once per run: one eventually consistent read of the (absent) silences item
    assert (run.calls.units(service="dynamodb") - silences) / EVENTS == sum(EXPECTED["units_per_event"].values())


def test_sqs_chunks_per_event(run):
    assert run.calls.units("receiver", service="sqs") / EVENTS == EXPECTED["sqs_chunks_per_event"]


def test_log_lines_per_event(run):
    lines = {f: (run.log_lines.get(f, 0) - run.emf_lines.get(f, 0)) / EVENTS for f in ("receiver", "dispatcher")}
    assert lines == EXPECTED["log_lines_per_event"]
