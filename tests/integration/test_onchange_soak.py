"""Soak: 10,000 events over 500 objects through a real Dispatcher with serve's SQLite state and a
capture server, an Alert with `fluxnotify.io/notify: on-change`: exactly one notification per
change of state per object (counted from the generated sequence), in the order of the changes,
and the state stays within its bound (one small row per object)."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

from exthelpers import Harness, event, generic_manifests

from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.onchange import MAX_TRACKED
from fluxnotify.state.stores import Stores

EVENTS, OBJECTS, WORKERS, SEED = 10_000, 500, 4, 25
STATES = [("info", "ReconciliationSucceeded"), ("error", "HealthCheckFailed"), ("error", "BuildFailed")]
STAY = 0.7  # chance that an object's next event is in the state of its last one


def sequence(rng: random.Random) -> list[tuple[str, tuple[str, str]]]:
    """(object, state) for every event, in order: each object moves between STATES at random."""
    current: dict[str, tuple[str, str]] = {}
    found = []
    for _ in range(EVENTS):
        name = f"app-{rng.randrange(OBJECTS):03d}"
        if name not in current or rng.random() > STAY:
            current[name] = rng.choice(STATES)
        found.append((name, current[name]))
    return found


def changes(events: list[tuple[str, tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
    """Per object, the states it changed to (its first event included): what must be notified."""
    expected: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name, state in events:
        if not expected[name] or expected[name][-1] != state:
            expected[name].append(state)
    return expected


def test_soak_one_notification_per_state_change_per_object(sink, tmp_path):
    events = sequence(random.Random(SEED))
    expected = changes(events)
    assert len(expected) == OBJECTS
    database = SqliteDatabase(str(tmp_path / "serve.db"))
    harness = Harness(generic_manifests(sink.url, {"fluxnotify.io/notify": "on-change"}),
                      stores=Stores.sqlite(database))
    # Each worker owns a share of the objects, so an object's events keep their order.
    shares = [[e for e in events if int(e[0][4:]) % WORKERS == w] for w in range(WORKERS)]
    outcomes: list[str] = []
    failures: list[BaseException] = []

    def work(share) -> None:
        try:
            for name, (severity, reason) in share:
                results = harness.send(event(name, severity=severity, reason=reason, message=f"{name} {reason}"))
                outcomes.extend(r.outcome for r in results)
        except BaseException as err:  # surfaced below
            failures.append(err)

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    assert failures == []
    want = sum(len(states) for states in expected.values())
    delivered = sink.wait_for(want, timeout=10)
    notified: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for request in delivered:
        body = request.json()
        notified[body["involvedObject"]["name"]].append((body["severity"], body["reason"]))
    print(f"\nsoak: {EVENTS} events, {OBJECTS} objects: expected {want} notifications, delivered {len(delivered)}, "
          f"skipped {outcomes.count('skipped')}, {seconds:.1f} s, "
          f"{database.execute('SELECT COUNT(*) FROM onchange')[0][0]} state rows")
    assert len(outcomes) == EVENTS and outcomes.count("delivered") == want == len(delivered)
    assert outcomes.count("skipped") == EVENTS - want
    assert notified == expected  # exactly the changes, in order, per object
    # the bound: one row per object (at most MAX_TRACKED per Alert), each small
    ((rows, longest_key, longest_state),) = database.execute(
        "SELECT COUNT(*), MAX(LENGTH(key)), MAX(LENGTH(state)) FROM onchange")
    assert rows == OBJECTS <= MAX_TRACKED
    assert longest_key < 100 and longest_state < 40
