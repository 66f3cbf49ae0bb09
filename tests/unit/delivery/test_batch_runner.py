"""The batch runner alone: partial-batch answers, the time budget, abandoning records."""

from __future__ import annotations

import threading
import time

from fluxnotify.delivery.batch import REPLAYED, Abandoned, BatchRunner, Deadline, budget, first_receipt


class Context:
    def __init__(self, millis: int):
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def records(*ids: str) -> dict:
    return {"Records": [{"messageId": i, "body": i} for i in ids]}


def test_failures_name_the_records_whose_handler_raised():
    def handle(body, message_id, deadline):
        if body == "bad":
            raise ConnectionError("queue down")

    answer = BatchRunner(handle).run(records("ok", "bad", "ok2"), Context(10_000))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


def test_a_record_still_running_at_the_deadline_is_reported_and_cannot_commit_later():
    release, checked = threading.Event(), threading.Event()
    committed = []

    def handle(body, message_id, deadline):
        if body == "slow":
            release.wait(5)
        try:
            if not deadline.begin_commit():
                raise Abandoned()
            committed.append(body)
        finally:
            if body == "slow":
                checked.set()

    answer = BatchRunner(handle).run(records("fast", "slow"), Context(400))
    release.set()
    assert answer == {"batchItemFailures": [{"itemIdentifier": "slow"}]}
    assert checked.wait(5)
    assert committed == ["fast"]


def test_the_budget_leaves_time_to_return_and_to_write_follow_ups():
    now = time.monotonic()
    finish_by, deliver_by, hard_stop = budget(Context(120_000))
    assert now + 116 < finish_by < now + 117.1
    assert deliver_by == finish_by - 2.0
    assert finish_by < hard_stop < now + 120
    finish_by, deliver_by, _ = budget(Context(1_000))
    assert deliver_by < finish_by < now + 1.0


def test_a_committing_record_is_not_abandoned():
    deadline = Deadline()
    assert deadline.begin_commit()
    assert not deadline.abandon()
    fresh = Deadline()
    assert fresh.abandon() and not fresh.begin_commit()


def test_duplicate_and_nameless_records_are_ignored():
    seen = []
    answer = BatchRunner(lambda body, message_id, deadline: seen.append(message_id)).run(
        {"Records": [{"messageId": "a", "body": "x"}, {"messageId": "a", "body": "y"}, {"body": "z"}, 7]},
        Context(5_000))
    assert answer == {"batchItemFailures": []}
    assert seen == ["a"]


def test_the_after_step_runs_once_after_every_record_with_the_time_left_and_cannot_fail_the_batch():
    handled, calls = [], []

    def handle(body, message_id, deadline):
        time.sleep(0.05)
        handled.append(body)
        if body == "bad":
            raise ConnectionError("queue down")

    def after(seconds):
        calls.append((sorted(handled), seconds))
        raise RuntimeError("status table gone")

    answer = BatchRunner(handle, after=after).run(records("a", "bad", "c"), Context(10_000))
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    (seen, seconds), = calls
    assert seen == ["a", "bad", "c"]  # the failed record's deliveries are in the batch's status too
    assert 9.0 < seconds < 10.0 - 0.375  # three quarters of the return reserve (0.5 s) left to answer


def test_first_receipt_is_receive_count_one_and_not_moved_back_by_replay():
    def one(count: str | None, marks: dict | None = None) -> dict:
        return {"messageId": "m", "body": "", "attributes": {"ApproximateReceiveCount": count} if count else {},
                "messageAttributes": marks or {}}

    assert first_receipt(one("1"))
    assert not first_receipt(one("2"))  # SQS redelivers it
    assert not first_receipt(one(None))  # unknown: read the ledger
    assert not first_receipt(one("1", {REPLAYED: {"stringValue": "1", "dataType": "String"}}))
    seen: list[bool] = []
    BatchRunner(lambda body, message_id, deadline: seen.append(deadline.first_receipt)).run(
        {"Records": [one("1"), {**one("3"), "messageId": "n"}]}, Context(10_000))
    assert sorted(seen) == [False, True]


def test_one_summary_line_per_batch_with_the_handlers_counts(caplog):
    counts = {"delivered": 3}
    runner = BatchRunner(lambda body, message_id, deadline: None, summary=lambda: counts)
    with caplog.at_level("INFO", logger="fluxnotify"):
        runner.run(records("a", "b"), Context(10_000))
    (line,) = [r for r in caplog.records if r.getMessage() == "batch handled"]
    assert (line.records, line.left_to_sqs, line.delivered) == (2, 0, 3) and line.duration_ms >= 0
