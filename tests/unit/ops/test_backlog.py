"""ops/backlog.py: the local stack's bound on its queue. Over it a new event gets 503 with
Retry-After and is not queued; bad input is still told what is wrong; once the dispatcher
catches up events are accepted again. The bound is a setting (MAX_BACKLOG, --max-backlog)."""

from __future__ import annotations

import http.client
import json

import pytest
from serveproc import event as serve_event
from serveproc import provider

from fluxnotify.ops.cli import _parser
from fluxnotify.ops.local import LocalStack
from fluxnotify.settings import DEFAULT_MAX_BACKLOG, Settings

CONFIG = provider("p", "http://127.0.0.1:9/")


def event(i: int) -> bytes:
    return serve_event(message=f"applied {i}")  # distinct: never a duplicate


@pytest.fixture
def stack(tmp_path):
    config = tmp_path / "flux.yaml"
    config.write_text(CONFIG)
    # No dispatcher: nothing leaves the queue unless the test takes it.
    stack = LocalStack([str(config)], port=0, database=str(tmp_path / "q.db"), workers=0,
                       settings=Settings(max_backlog=3)).start()
    stack.backlog.every = 0.0  # count at every request: the test sees the bound exactly
    yield stack
    stack.stop()


def post(stack, body: bytes) -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", stack.server.server_address[1], timeout=5)
    try:
        connection.request("POST", "/", body=body, headers={"Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer.status, dict(answer.headers), json.loads(answer.read())
    finally:
        connection.close()


def test_over_the_bound_new_events_get_503_with_retry_after_and_are_not_queued(stack):
    assert [post(stack, event(i))[0] for i in range(3)] == [202, 202, 202]
    status, headers, body = post(stack, event(3))
    assert status == 503
    assert headers["Retry-After"] == "1"
    assert "3" in body["error"] and "--max-backlog" in body["error"] and "nothing was queued" in body["error"]
    assert stack.queue.count() == 3
    # Not recorded as seen either: the same event is accepted once there is room.
    taken = stack.queue.receive(max_messages=3)
    stack.queue.delete_many([message.id for message in taken])
    assert post(stack, event(3))[0] == 202
    assert stack.queue.count() == 1


def test_bad_input_is_still_named_while_the_queue_is_full(stack):
    for i in range(3):
        post(stack, event(i))
    status, _, body = post(stack, b'{"involvedObject": {}}')
    assert status == 400 and body.get("field")


def test_messages_being_delivered_or_delayed_do_not_count(stack):
    for i in range(3):
        post(stack, event(i))
    stack.queue.receive(max_messages=2, visibility_timeout=60)  # taken by the dispatcher, in delivery
    stack.queue.send('{"retry": 1}', delay=60)  # a retry waiting for its back-off
    assert stack.queue.due() == 1
    assert post(stack, event(3))[0] == 202


def test_between_counts_what_was_queued_is_added(stack):
    stack.backlog.every = 3600.0  # one count, at the first request
    assert [post(stack, event(i))[0] for i in range(4)] == [202, 202, 202, 503]


def test_zero_means_no_bound(tmp_path):
    config = tmp_path / "flux.yaml"
    config.write_text(CONFIG)
    stack = LocalStack([str(config)], port=0, database=str(tmp_path / "q.db"), workers=0,
                       settings=Settings(max_backlog=0)).start()
    try:
        assert [post(stack, event(i))[0] for i in range(5)] == [202] * 5
    finally:
        stack.stop()


def test_the_bound_is_a_setting_and_a_serve_flag():
    assert Settings().max_backlog == DEFAULT_MAX_BACKLOG == 10_000
    assert Settings.from_env({"MAX_BACKLOG": "250"}).max_backlog == 250
    with pytest.raises(ValueError, match="MAX_BACKLOG"):
        Settings.from_env({"MAX_BACKLOG": "many"})
    args = _parser().parse_args(["serve", "-f", "x.yaml", "--max-backlog", "42"])
    assert args.max_backlog == 42
