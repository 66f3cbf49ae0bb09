"""fluxnotify.io/notify: on-change, fluxnotify.io/renotify and fluxnotify.io/after: the decision,
the stage through a real Dispatcher and a capture server, retries, concurrency, render, validate."""

from __future__ import annotations

import json
import threading

import pytest
from exthelpers import Harness, event, generic_manifests

from fluxnotify.delivery.annotations import alert_extensions
from fluxnotify.delivery.plan import Context
from fluxnotify.delivery.planner import Planner
from fluxnotify.delivery.stages import onchange
from fluxnotify.delivery.stages.onchange import MAX_KEY, TOUCH_SECONDS, decide, object_key, state_of
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.cli import main
from fluxnotify.ops.render import render
from fluxnotify.ops.validate import conditions
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.onchange import Mark, SqliteOnChange
from fluxnotify.state.stores import Stores
from helpers import door

ON_CHANGE = {"fluxnotify.io/notify": "on-change"}
T0 = 1_800_000_000.0


def ext_of(annotations: dict[str, str]):
    (_, _, alert) = load_yaml(generic_manifests("http://127.0.0.1:9", annotations))
    return alert_extensions(alert)


def ok(name: str = "apps") -> dict:
    return event(name)


def failed(name: str = "apps", reason: str = "HealthCheckFailed") -> dict:
    return event(name, reason=reason, severity="error", message="unhealthy")


def run(marks: list, annotations: dict, data: dict, now: float, message_id: str):
    """decide() against the last recorded mark, recording what it returns (as the store would)."""
    mark = marks[-1] if marks else None
    decision = decide(mark, door(data), ext_of(annotations), now, message_id)
    if decision.mark is not None:
        marks.append(decision.mark)
    return decision


# --- the decision ------------------------------------------------------------------------


def test_the_first_event_notifies_and_the_same_state_is_skipped_with_its_time():
    marks: list[Mark] = []
    assert run(marks, ON_CHANGE, ok(), T0, "m1").notify
    again = run(marks, ON_CHANGE, ok(), T0 + 300, "m2")
    assert not again.notify and again.mark is None  # nothing to write
    assert again.rule == "fluxnotify.io/notify: on-change: unchanged since 2027-01-15T08:00:00Z"


def test_a_change_of_severity_or_of_reason_notifies():
    marks: list[Mark] = []
    steps = [ok(), failed(), failed(), failed(reason="BuildFailed"), ok(), ok()]
    notified = [run(marks, ON_CHANGE, data, T0 + i, f"m{i}").notify for i, data in enumerate(steps)]
    assert notified == [True, True, False, True, True, False]
    assert marks[-1].state == "info/ReconciliationSucceeded" and marks[-1].since == T0 + 4


def test_renotify_reminds_of_an_unchanged_error_after_the_interval_only():
    notes = {**ON_CHANGE, "fluxnotify.io/renotify": "4h"}
    marks: list[Mark] = []
    assert run(marks, notes, failed(), T0, "m1").notify
    held = run(marks, notes, failed(), T0 + 4 * 3600 - 1, "m2")
    assert not held.notify and held.rule.endswith("; reminder from 2027-01-15T12:00:00Z")
    reminder = run(marks, notes, failed(), T0 + 4 * 3600, "m3")
    assert reminder.notify and reminder.reminder and reminder.rule.startswith("fluxnotify.io/renotify: 4h: reminder")
    assert not run(marks, notes, failed(), T0 + 5 * 3600, "m4").notify  # the next one counts from the reminder
    assert run(marks, notes, failed(), T0 + 8 * 3600, "m5").reminder
    assert marks[-1].since == T0  # unchanged since the first notification
    assert run(marks, notes, ok(), T0 + 9 * 3600, "m6").notify
    assert not run(marks, notes, ok(), T0 + 99 * 3600, "m7").notify  # no reminders of a healthy state


def test_after_notifies_an_error_from_the_nth_failure_in_a_row_and_a_success_resets():
    notes = {"fluxnotify.io/after": "3"}
    marks: list[Mark] = []
    steps = [failed(), failed(), ok(), failed(), failed(), failed(), failed(), ok()]
    decisions = [run(marks, notes, data, T0 + i, f"m{i}") for i, data in enumerate(steps)]
    assert [d.notify for d in decisions] == [False, False, True, False, False, True, True, True]
    assert decisions[1].rule == "fluxnotify.io/after: 3: failure 2 of 3 in a row"
    # with on-change as well: the error once, then the recovery
    marks = []
    both = {**notes, **ON_CHANGE}
    notified = [run(marks, both, data, T0 + i, f"n{i}").notify for i, data in enumerate([ok(), *steps])]
    assert notified == [True, False, False, False, False, False, True, False, True]


def test_a_redelivered_message_gets_the_same_answer_without_a_second_write():
    notes = {**ON_CHANGE, "fluxnotify.io/after": "2"}
    marks: list[Mark] = []
    assert run(marks, notes, ok(), T0, "m1").notify
    first = run(marks, notes, failed(), T0 + 1, "m2")
    assert not first.notify and len(marks) == 2
    again = run(marks, notes, failed(), T0 + 2, "m2")  # the same message, redelivered
    assert (again.notify, again.rule, again.mark) == (False, first.rule, None)
    assert run(marks, notes, failed(), T0 + 3, "m3").notify  # the second failure, counted once
    redelivered = run(marks, notes, failed(), T0 + 4, "m3")
    assert redelivered.notify and redelivered.mark is None


def test_an_unchanged_event_rewrites_its_mark_at_most_once_a_day():
    marks: list[Mark] = []
    run(marks, ON_CHANGE, ok(), T0, "m1")
    assert run(marks, ON_CHANGE, ok(), T0 + TOUCH_SECONDS - 1, "m2").mark is None
    touched = run(marks, ON_CHANGE, ok(), T0 + TOUCH_SECONDS, "m3")
    assert not touched.notify and touched.mark is not None and touched.mark.seen == T0 + TOUCH_SECONDS
    assert touched.mark.since == T0  # still unchanged since the first


def test_keys_and_states_are_bounded_whatever_the_event_holds():
    long = door(event("x" * 5000, reason="R" * 5000))
    assert len(object_key("ns/a", "ns/p", "prod", long)) <= MAX_KEY
    assert len(state_of(long)) < 100 and state_of(long) != state_of(door(event("x", reason="R" * 4999)))
    assert object_key("ns/a", "ns/p", "prod", door(ok())) == "ns/a|ns/p|prod|Kustomization/flux-system/apps"


# --- through the dispatcher ----------------------------------------------------------------


def test_through_the_dispatcher_one_notification_per_change_per_object(sink):
    harness = Harness(generic_manifests(sink.url, ON_CHANGE))
    sequence = [ok("apps"), ok("infra"), ok("apps"), failed("apps"), failed("apps"), ok("infra"), ok("apps")]
    results = [harness.send(data)[0] for data in sequence]
    assert [r.outcome for r in results] == ["delivered", "delivered", "skipped", "delivered", "skipped", "skipped",
                                            "delivered"]
    assert results[2].detail.startswith("fluxnotify.io/notify: on-change: unchanged since ")
    assert [(r.json()["involvedObject"]["name"], r.json()["reason"]) for r in sink.wait_for(4)] == [
        ("apps", "ReconciliationSucceeded"), ("infra", "ReconciliationSucceeded"), ("apps", "HealthCheckFailed"),
        ("apps", "ReconciliationSucceeded")]
    assert "reminder" not in sink.requests[0].json()["metadata"]


def test_the_state_is_per_cluster(sink):
    harness = Harness(generic_manifests(sink.url, ON_CHANGE))
    assert harness.send(ok(), cluster="prod")[0].outcome == "delivered"
    assert harness.send(ok(), cluster="staging")[0].outcome == "delivered"
    assert harness.send(ok(), cluster="prod")[0].outcome == "skipped"


def test_a_failed_delivery_is_retried_and_its_retry_is_not_skipped(sink):
    harness = Harness(generic_manifests(sink.url, ON_CHANGE))
    sink.respond(503)
    (first,) = harness.send(failed(), message_id="m-1")
    assert first.outcome == "retry"
    ((retry_body, _),) = harness.take_queued()
    assert json.loads(retry_body)["targets"] == ["flux-system/team"]
    assert harness.send(failed(), message_id="m-2")[0].outcome == "skipped"  # decided: the first is on its way
    (retried,) = harness.dispatcher.handle(retry_body)
    assert retried.outcome == "delivered"
    assert [r.json()["reason"] for r in sink.wait_for(2)] == ["HealthCheckFailed", "HealthCheckFailed"]
    assert harness.send(failed(), message_id="m-3")[0].outcome == "skipped"


def test_a_redelivered_first_attempt_is_sent_again_when_the_ledger_has_not_seen_it(sink):
    """A crash between the state write and the send: the queue hands the message back."""
    harness = Harness(generic_manifests(sink.url, ON_CHANGE))
    sink.respond(503)
    harness.send(failed(), message_id="m-1")  # decided and recorded; its send failed
    harness.take_queued()
    (again,) = harness.send(failed(), message_id="m-1")  # the same message, redelivered
    assert again.outcome == "delivered"


def test_a_reminder_is_the_event_again_with_metadata_reminder_true(sink, monkeypatch):
    now = [T0]
    monkeypatch.setattr(onchange, "clock", lambda: now[0])
    harness = Harness(generic_manifests(sink.url, {**ON_CHANGE, "fluxnotify.io/renotify": "30m"}))
    assert harness.send(failed())[0].outcome == "delivered"
    now[0] += 1799
    assert harness.send(failed())[0].outcome == "skipped"
    now[0] += 1
    sink.respond(500)
    assert harness.send(failed(), message_id="reminder-1")[0].outcome == "retry"
    ((retry_body, _),) = harness.take_queued()
    assert harness.dispatcher.handle(retry_body)[0].outcome == "delivered"  # the retry is a reminder too
    first, failed_reminder, reminder = sink.wait_for(3)
    assert "reminder" not in first.json()["metadata"]
    assert failed_reminder.json()["metadata"]["reminder"] == reminder.json()["metadata"]["reminder"] == "true"
    assert reminder.json()["message"] == first.json()["message"]


def test_concurrent_duplicates_notify_once(sink, tmp_path):
    database = SqliteDatabase(str(tmp_path / "serve.db"))
    harness = Harness(generic_manifests(sink.url, ON_CHANGE), stores=Stores.sqlite(database))
    start = threading.Barrier(8)
    outcomes = []

    def one(index: int) -> None:
        start.wait()
        outcomes.extend(r.outcome for r in harness.send(failed(), message_id=f"m-{index}"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["delivered"] + ["skipped"] * 7
    assert len(sink.wait_for(1)) == 1
    assert database.execute("SELECT state, version FROM onchange") == [("error/HealthCheckFailed", 1)]


def test_a_failing_store_retries_and_the_retry_notifies(sink):
    class Broken(SqliteOnChange):
        def get(self, key, now=None):
            raise OSError("state table unavailable")

    stores = Stores.memory()
    stores.onchange = Broken(SqliteDatabase(":memory:"))
    harness = Harness(generic_manifests(sink.url, ON_CHANGE), stores=stores)
    assert harness.send(ok())[0].outcome == "retry"
    assert sink.requests == []
    ((retry_body, _),) = harness.take_queued()
    assert harness.dispatcher.handle(retry_body)[0].outcome == "delivered"  # fails open: better twice than never


def test_a_digest_alert_gathers_only_changes(sink):
    harness = Harness(generic_manifests(sink.url, {**ON_CHANGE, "fluxnotify.io/digest": "5m"}))
    outcomes = [harness.send(data)[0].detail for data in (ok(), ok(), failed())]
    assert outcomes[0].startswith("gathered") and outcomes[2].startswith("gathered")
    assert outcomes[1].startswith("fluxnotify.io/notify: on-change: unchanged since")


# --- render and validate ---------------------------------------------------------------------


def test_render_says_it_would_notify_without_a_stored_state(sink):
    objects = load_yaml(generic_manifests(sink.url, {**ON_CHANGE, "fluxnotify.io/after": "2"}))
    (result,) = render(objects, door(ok()))
    assert len(result["deliveries"]) == 1 and result["skipped"] is None
    assert result["note"] == ("fluxnotify.io/notify: on-change: would notify (no stored state); "
                              "fluxnotify.io/after: 2: would notify (no stored state)")
    (held,) = render(objects, door(failed()))  # as on an empty state: the first failure of two
    assert (held["deliveries"], held["skipped"]) == ([], "fluxnotify.io/after: 2: failure 1 of 2 in a row")
    (plain,) = render(load_yaml(generic_manifests(sink.url)), door(failed()))
    assert "note" not in plain


def test_a_preview_with_a_stored_state_reads_it_and_writes_nothing(sink):
    database = SqliteDatabase(":memory:")
    store = SqliteOnChange(database)
    objects = load_yaml(generic_manifests(sink.url, ON_CHANGE))
    planner = Planner(lambda ns, n: objects[1], lambda ns, n: objects[0].data)
    preview = Context(onchange=store, preview=True, message_id="preview")
    assert planner.plan(door(ok()), [objects[2]], preview)[0].outcome == "delivered"
    assert database.execute("SELECT COUNT(*) FROM onchange") == [(0,)]
    planner.plan(door(ok()), [objects[2]], Context(onchange=store, message_id="m-1"))  # a real decision
    (item,) = planner.plan(door(ok()), [objects[2]], preview)
    assert item.outcome == "skipped" and "unchanged since" in item.detail
    assert database.execute("SELECT by, version FROM onchange") == [("m-1", 1)]


@pytest.mark.parametrize(("annotations", "message"), [
    ({"fluxnotify.io/notify": "always"}, "fluxnotify.io/notify: 'always' is not supported (expected 'on-change')"),
    ({**ON_CHANGE, "fluxnotify.io/renotify": "4 hours"}, "fluxnotify.io/renotify: '4 hours' is not a duration"),
    ({"fluxnotify.io/renotify": "4h"}, "fluxnotify.io/renotify needs fluxnotify.io/notify: on-change"),
    ({"fluxnotify.io/after": "0"}, "fluxnotify.io/after: '0' must be a whole number"),
    ({"fluxnotify.io/after": "three"}, "fluxnotify.io/after: 'three' must be a whole number"),
    ({"fluxnotify.io/after": "9" * 5000}, "fluxnotify.io/after: '999"),
])
def test_validate_names_a_bad_annotation(annotations, message):
    alert = next(c for c in conditions(load_yaml(generic_manifests("http://127.0.0.1:9", annotations)))
                 if c.kind == "Alert")
    assert not alert.ready and alert.message.startswith(message)


def test_validate_accepts_the_annotations_and_refuses_them_for_commit_statuses():
    good = {**ON_CHANGE, "fluxnotify.io/renotify": "4h", "fluxnotify.io/after": "3"}
    assert all(c.ready for c in conditions(load_yaml(generic_manifests("http://127.0.0.1:9", good))))
    text = generic_manifests("http://127.0.0.1:9", good).replace(
        'type: generic-hmac, address: "http://127.0.0.1:9/team"',
        'type: github, address: "https://github.com/org/repo"')
    alert = next(c for c in conditions(load_yaml(text)) if c.kind == "Alert")
    assert not alert.ready and "fluxnotify.io/notify: not supported for github Providers" in alert.message


def test_render_db_previews_against_serves_state_read_only(sink, tmp_path, capsys):
    path = tmp_path / "serve.db"
    manifests = generic_manifests(sink.url, ON_CHANGE)
    harness = Harness(manifests, stores=Stores.sqlite(SqliteDatabase(str(path))))
    assert harness.send(failed())[0].outcome == "delivered"
    (tmp_path / "flux.yaml").write_text(manifests)
    for name, data in (("same", failed()), ("other", ok())):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    before = SqliteDatabase(str(path)).execute("SELECT by, version, seen FROM onchange")

    def render_cli(name: str) -> dict:
        assert main(["render", "-f", str(tmp_path / "flux.yaml"), "--event", str(tmp_path / f"{name}.json"),
                     "--db", str(path)]) == 0
        (result,) = json.loads(capsys.readouterr().out)
        return result

    same = render_cli("same")
    assert same["deliveries"] == [] and same["skipped"].startswith("fluxnotify.io/notify: on-change: unchanged since")
    other = render_cli("other")
    assert len(other["deliveries"]) == 1
    assert other["note"].startswith("fluxnotify.io/notify: on-change: changed to info/ReconciliationSucceeded (was "
                                    "error/HealthCheckFailed since ")
    assert SqliteDatabase(str(path)).execute("SELECT by, version, seen FROM onchange") == before  # nothing written
    assert len(sink.requests) == 1  # render sends nothing
