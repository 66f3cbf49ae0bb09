"""ops/local.py's group commit: requests that arrive together are checked outside the write
transaction and queued in one. A 202 is only sent once its row is committed (another
connection, like another process after a kill -9, already sees it); an event whose write
fails gets 503 alone; a commit that fails turns the whole batch into 503 with nothing queued."""

from __future__ import annotations

import http.client
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from serveproc import event as serve_event
from serveproc import provider

from fluxnotify.ops.local import LocalStack
from fluxnotify.settings import Settings

CONFIG = provider("p", "http://127.0.0.1:9/")


def event(i: int) -> bytes:
    return serve_event(message=f"applied {i}")  # distinct: never a duplicate


@pytest.fixture
def stack(tmp_path):
    config = tmp_path / "flux.yaml"
    config.write_text(CONFIG)
    stack = LocalStack([str(config)], port=0, database=str(tmp_path / "q.db"), workers=0,
                       settings=Settings(rate_limit_interval=300)).start()
    yield stack
    stack.stop()


def post_many(stack, indexes: list[int], check=None) -> list[tuple[int, dict]]:
    """POST from 8 keep-alive connections at once; ``check(answer)`` runs as each answer arrives."""
    def worker(chunk: list[int]) -> list[tuple[int, dict]]:
        connection = http.client.HTTPConnection("127.0.0.1", stack.server.server_address[1], timeout=10)
        answers = []
        for i in chunk:
            connection.request("POST", "/", body=event(i), headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = (response.status, json.loads(response.read()))
            if check is not None:
                check(answer)
            answers.append(answer)
        connection.close()
        return answers

    with ThreadPoolExecutor(8) as pool:
        return [a for part in pool.map(worker, [indexes[k::8] for k in range(8)]) for a in part]


def test_a_202_is_sent_only_after_its_row_is_committed(stack, tmp_path):
    unseen = []

    def committed(answer) -> None:
        status, body = answer
        reader = sqlite3.connect(f"file:{tmp_path / 'q.db'}?mode=ro", uri=True)  # as another process would
        try:
            if status != 202 or not reader.execute("SELECT 1 FROM messages WHERE body LIKE ?",
                                                   (f'%"id":"{body["id"]}"%',)).fetchone():
                unseen.append(answer)
        finally:
            reader.close()

    answers = post_many(stack, list(range(200)), committed)
    assert [status for status, _ in answers] == [202] * 200
    assert unseen == []
    assert stack.queue.count() == 200
    assert stack.db.execute("SELECT COUNT(*) FROM dedup")[0][0] == 200


def test_an_event_whose_write_fails_gets_503_alone(stack, monkeypatch):
    real_send = stack.queue.send

    def send(body: str, delay: int = 0) -> str:
        if '"applied 7"' in body:
            raise sqlite3.OperationalError("disk I/O error")
        return real_send(body, delay)

    monkeypatch.setattr(stack.queue, "send", send)
    answers = post_many(stack, list(range(16)))
    assert sorted(status for status, _ in answers) == [202] * 15 + [503]
    assert stack.queue.count() == 15
    monkeypatch.setattr(stack.queue, "send", real_send)
    assert post_many(stack, [7])[0][0] == 202  # its duplicate key was rolled back with it


def test_a_failed_commit_turns_the_batch_into_503_and_queues_nothing(stack, monkeypatch):
    real = stack.db.transaction

    commits = []

    @contextmanager
    def failing_commit():
        outermost = not stack.db.connection.in_transaction  # inner ones (each event's savepoint) work
        with real() as connection:
            yield connection
            if outermost:
                commits.append(connection.execute("SELECT COUNT(*) FROM messages").fetchone()[0])
                raise sqlite3.OperationalError("disk I/O error")  # at the commit: everything rolls back

    monkeypatch.setattr(stack.db, "transaction", failing_commit)
    answers = post_many(stack, list(range(8)))
    assert [status for status, _ in answers] == [503] * 8
    assert all("retry later" in body["error"] for _, body in answers)
    assert stack.queue.count() == 0
    assert commits and min(commits) > 0  # each batch's events were written, then its commit failed
    monkeypatch.setattr(stack.db, "transaction", real)
    assert [status for status, _ in post_many(stack, list(range(8)))] == [202] * 8
