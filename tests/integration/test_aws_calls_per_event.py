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
        # dedup: one conditional PutItem, the key in its final form (was GetItem + PutItem + UpdateItem)
        "receiver": {("dynamodb", "PutItem"): 1, ("sqs", "SendMessage"): 1},
        # ledger: no read on a first receipt, one write per message after the fan-out (was a read
        # and a write per delivery); status: no transaction, one UpdateItem per (Alert, Provider)
        # pair and invocation, shared by its BATCH records (3 pairs; was 12 items in a
        # transaction per event, then 12 UpdateItems per invocation)
        "dispatcher": {("dynamodb", "UpdateItem"): 1 + 3 / BATCH},
    },
    # Once per warm environment and refresh (a run shorter than every TTL): the token secret;
    # the config marker, one page of objects and each of the 3 Secrets once (single flight;
    # SSM SecureString parameters, the default SecretStore: no Secrets Manager call);
    # the silences item (one GetItem per 30 s, state/silences.py); once per pair and hour, its
    # status head read and moved on (GetItem + UpdateItem).
    "per_run": {
        "receiver": {("secretsmanager", "GetSecretValue"): 1},
        "dispatcher": {("ssm", "GetParameter"): 1 + 3, ("ssm", "GetParametersByPath"): 1,
                       ("dynamodb", "GetItem"): 1 + 3,
                       ("dynamodb", "UpdateItem"): 3},
    },
    # DynamoDB billed units per event: (item kind, unit) → units. Status: 3 pairs × 1 WRU per
    # invocation of BATCH records (was 12 items × 2 in a transaction per event: 24; then 12 / BATCH).
    # Was dedup 2 WRU + 1 RRU, ledger 3 WRU + 0.5 RRU.
    "units_per_event": {("dedup", "WRU"): 1, ("dedup", "RRU"): 0, ("ledger", "WRU"): 1, ("ledger", "RRU"): 0,
                        ("status", "WRU"): 3 / BATCH},
    # Once per pair and hour: its head read (0.5 RRU) and written (1 WRU).
    "status_units_per_hour": {"WRU": 3, "RRU": 1.5},
    "sqs_chunks_per_event": 1,
    # Log lines other than EMF documents per event: the receiver none (errors and refusals only),
    # the dispatcher one summary per invocation ("batch handled", a batch of BATCH records);
    # per-message "delivered" lines are DEBUG on Lambda (was one per message).
    "log_lines_per_event": {"receiver": 0, "dispatcher": 1 / BATCH},
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
    hourly = EXPECTED["status_units_per_hour"]
    units[("status", "WRU")] -= hourly["WRU"] / EVENTS
    units[("status", "RRU")] = run.calls.units(service="dynamodb", label="status", unit="RRU")
    assert units == pytest.approx({**EXPECTED["units_per_event"], ("status", "RRU"): hourly["RRU"]})
    silences = run.calls.units(service="dynamodb", label="silences")
    assert silences == 0.5  # once per run: one eventually consistent read of the (absent) silences item
    assert run.calls.units(service="dynamodb") - silences == pytest.approx(
        EVENTS * sum(EXPECTED["units_per_event"].values()) + sum(hourly.values()))


def test_sqs_chunks_per_event(run):
    assert run.calls.units("receiver", service="sqs") / EVENTS == EXPECTED["sqs_chunks_per_event"]


def test_log_lines_per_event(run):
    lines = {f: (run.log_lines.get(f, 0) - run.emf_lines.get(f, 0)) / EVENTS for f in ("receiver", "dispatcher")}
    assert lines == EXPECTED["log_lines_per_event"]
