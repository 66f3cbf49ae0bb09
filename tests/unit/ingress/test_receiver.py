"""Receiver logic without Lambda: status codes, auth, limits, dedup, what gets queued."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest

from fluxnotify.ingress.receiver import Pending, Receiver, rfc1123
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.dedup import SqliteDedup
from helpers import MemoryQueue

EVENT = {
    "involvedObject": {"kind": "GitRepository", "namespace": "flux-system", "name": "podinfo",
                       "apiVersion": "source.toolkit.fluxcd.io/v1"},
    "severity": "info",
    "timestamp": "2026-01-02T03:04:05.678+01:00",
    "message": "stored artifact",
    "reason": "NewArtifact",
    "metadata": {
        "source.toolkit.fluxcd.io/revision": "main@sha1:abc",
        "source.toolkit.fluxcd.io/checksum": "sha256:1",
        "source.toolkit.fluxcd.io/token": "t-1",
        "event.toolkit.fluxcd.io/commit": "abc",
        "unrelated/key": "dropped",
    },
    "reportingController": "source-controller",
}


def body(**changes) -> bytes:
    return json.dumps({**EVENT, **changes}).encode()


@pytest.fixture
def queue():
    return MemoryQueue()


def test_accepted_event_is_cleaned_and_queued(queue):
    answer = Receiver(queue).handle("POST", "/", {"Content-Type": "application/json"}, body())
    assert answer.status == 202
    assert json.loads(answer.body)["id"]
    (message,) = queue.bodies()
    assert message["attempt"] == 1 and message["targets"] is None
    event = message["event"]
    assert event["timestamp"] == "2026-01-02T02:04:05Z"
    # Step A drops foreign and checksum keys; step B drops the emitter token.
    assert event["metadata"] == {
        "event.toolkit.fluxcd.io/commit": "abc",
        "source.toolkit.fluxcd.io/revision": "main@sha1:abc",
    }


@pytest.mark.parametrize("token_in_path,signature,status", [
    ("tok-123", None, 202),
    ("wrong", None, 401),
    ("", None, 401),
    ("", "good", 202),
    ("", "sha256=deadbeef", 401),
    ("", "sha1=whatever", 401),
])
def test_webhook_auth(queue, token_in_path, signature, status):
    receiver = Receiver(queue, token=lambda: "tok-123")
    raw = body()
    headers = {}
    if signature == "good":
        headers["X-Signature"] = "sha256=" + hmac.new(b"tok-123", raw, hashlib.sha256).hexdigest()
    elif signature:
        headers["X-Signature"] = signature
    answer = receiver.handle("POST", f"/{token_in_path}", headers, raw)
    assert answer.status == status
    assert len(queue.messages) == (1 if status == 202 else 0)
    assert "tok-123" not in answer.body


def test_body_limit_is_enforced_before_parsing(queue):
    receiver = Receiver(queue, max_body=1024)
    answer = receiver.handle("POST", "/", {}, b"x" * 1025)
    assert answer.status == 413
    assert "1025 bytes" in json.loads(answer.body)["error"]
    assert receiver.handle("POST", "/", {}, body()).status == 202


def test_body_limit_never_exceeds_half_the_queue_message_limit(queue):
    assert Receiver(queue, max_body=10 * 1024 * 1024).max_body == 512 * 1024


@pytest.mark.parametrize("raw,field", [
    (b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "info", "metadata": {"k": ["v"]}}',
     "metadata['k']"),
    (b'{"involvedObject": "x"}', "involvedObject"),
    (b'{"involvedObject": {"kind": 1}}', "involvedObject.kind"),
    (b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "info", "timestamp": 7}',
     "timestamp"),
    (b"[" * 5000 + b"]" * 5000, None),
    (b'{"a": NaN}', None),
    (b"\xff\xfe", None),
])
def test_malformed_bodies_are_400_with_json_error(queue, raw, field):
    answer = Receiver(queue).handle("POST", "/", {}, raw)
    assert answer.status == 400
    error = json.loads(answer.body)
    assert error["status"] == 400 and error["error"]
    assert error.get("field") == field
    assert queue.messages == []


def test_long_messages_and_many_metadata_keys_are_accepted_like_the_reference(queue):
    # Spec §1.1/§1.3: the reference limits neither; Flux does not retry a 400, so refusing would lose it.
    metadata = {f"source.toolkit.fluxcd.io/k{i}": "v" for i in range(300)}
    answer = Receiver(queue).handle("POST", "/", {}, body(metadata=metadata, message="x" * 200_000))
    assert answer.status == 202
    queued = queue.bodies()[-1]["event"]
    assert len(queued["message"]) == 200_000 and len(queued["metadata"]) == 300


def test_queue_outage_is_503_not_a_lost_202():
    class Broken:
        def send(self, body, delay=0):
            raise ConnectionError("sqs down")

    assert Receiver(Broken()).handle("POST", "/", {}, body()).status == 503


def test_duplicates_are_refused_inside_the_window(tmp_path, queue):
    dedup = SqliteDedup(SqliteDatabase(str(tmp_path / "d.db")), interval=300)
    receiver = Receiver(queue, dedup)
    first = receiver.handle("POST", "/", {}, body())
    # Severity, reason and timestamp are not part of the key (spec §2.6).
    second = receiver.handle("POST", "/", {}, body(severity="error", reason="Other"))
    other_revision = receiver.handle("POST", "/", {}, body(metadata={"source.toolkit.fluxcd.io/revision": "x"}))
    assert [first.status, second.status, other_revision.status] == [202, 429, 202]
    assert second.headers["Retry-After"] == second.headers["X-RateLimit-Reset"]
    assert second.headers["X-RateLimit-Limit"] == "1" and second.headers["X-RateLimit-Remaining"] == "0"
    assert len(queue.messages) == 2


def test_rfc1123_format_matches_the_reference():
    assert rfc1123(0) == "Thu, 01 Jan 1970 00:00:00 UTC"


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_timestamp_outside_the_utc_range_is_400(queue, timestamp):
    answer = Receiver(queue).handle("POST", "/", {}, body(timestamp=timestamp))
    assert answer.status == 400 and json.loads(answer.body)["field"] == "timestamp"
    assert queue.messages == []


@pytest.mark.parametrize("method", ["HEAD", "TRACE", "post", "Post", "GET"])
def test_other_methods_and_lower_case_post_are_405_json(queue, method):
    answer = Receiver(queue).handle(method, "/", {}, body())
    assert answer.status == 405 and answer.headers["Allow"] == "POST"
    assert json.loads(answer.body)["status"] == 405
    assert queue.messages == []


def test_an_accepted_event_logs_only_at_debug_a_refused_duplicate_at_info(queue, tmp_path, caplog):
    receiver = Receiver(queue, SqliteDedup(SqliteDatabase(str(tmp_path / "d.db")), 300))
    headers = {"Content-Type": "application/json"}
    with caplog.at_level(logging.INFO, logger="fluxnotify"):
        assert receiver.handle("POST", "/", headers, body()).status == 202
        assert caplog.records == []  # one INFO line per accepted event is what the bill was made of
        assert receiver.handle("POST", "/", headers, body()).status == 429
        assert [r.getMessage() for r in caplog.records] == ["duplicate event refused"]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="fluxnotify"):
        assert receiver.handle("POST", "/", headers, body(message="another")).status == 202
    assert [r.getMessage() for r in caplog.records] == ["event queued"]


def test_prepare_touches_no_store_and_commit_queues(queue, tmp_path):
    """serve prepares a batch outside its write transaction and commits it inside (ops/local.py)."""
    db = SqliteDatabase(str(tmp_path / "d.db"))
    receiver = Receiver(queue, SqliteDedup(db, 300))
    prepared = receiver.prepare("POST", "/", {"Content-Type": "application/json"}, body())
    assert isinstance(prepared, Pending)
    assert queue.bodies() == [] and db.execute("SELECT COUNT(*) FROM dedup")[0][0] == 0
    answer = receiver.commit(prepared)
    assert answer.status == 202 and json.loads(answer.body)["id"] == prepared.id
    assert [m["id"] for m in queue.bodies()] == [prepared.id]
    assert db.execute("SELECT COUNT(*) FROM dedup")[0][0] == 1
    again = receiver.commit(receiver.prepare("POST", "/", {"Content-Type": "application/json"}, body()))
    assert again.status == 429 and len(queue.bodies()) == 1


def test_a_refusal_is_prepared_as_an_answer_and_committed_unchanged(queue):
    receiver = Receiver(queue)
    prepared = receiver.prepare("POST", "/", {"Content-Type": "application/json"}, b"{")
    assert not isinstance(prepared, Pending) and prepared.status == 400
    assert receiver.commit(prepared) is prepared
    assert queue.bodies() == []
