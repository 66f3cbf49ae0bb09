"""Property-based and corpus tests of the receiver: no input produces a 5xx, every refusal
is a 4xx with a JSON error and queues nothing, every 202 queues exactly one event."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluxnotify.ingress.receiver import Receiver
from fluxnotify.model.event import parse_event
from helpers import MemoryQueue

KINDS = ["GitRepository", "Kustomization", "HelmRelease", "OCIRepository", "Bucket"]
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)

flux_events = st.fixed_dictionaries({
    "involvedObject": st.fixed_dictionaries({
        "kind": st.sampled_from(KINDS), "namespace": st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
        "name": st.from_regex(r"[a-z][a-z0-9.-]{0,30}", fullmatch=True),
        "apiVersion": st.sampled_from(["source.toolkit.fluxcd.io/v1", "kustomize.toolkit.fluxcd.io/v1", "v1", ""]),
    }),
    "severity": st.sampled_from(["trace", "info", "error"]),
    "timestamp": st.sampled_from(["2026-11-25T10:00:00Z", "2026-11-25T10:00:00.123456+02:00", None]),
    "message": st.text(max_size=300),
    "reason": st.text(max_size=30),
    "metadata": st.dictionaries(st.text(max_size=40), st.text(max_size=40), max_size=6),
    "reportingController": st.text(max_size=30),
})


def mutate(event: dict, path: tuple[str, ...], value) -> dict:
    copy = json.loads(json.dumps(event))
    target = copy
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(target.get(key), dict) else target
    target[path[-1]] = value
    return copy


def check(answer, queue: MemoryQueue, before: int) -> None:
    assert 200 <= answer.status < 500, answer.status
    if answer.status == 202:
        assert len(queue.messages) == before + 1
        queued = queue.bodies()[-1]["event"]
        parse_event(json.dumps(queued))  # what was queued parses back
    else:
        assert len(queue.messages) == before
        error = json.loads(answer.body)
        assert error["status"] == answer.status and isinstance(error["error"], str) and error["error"]


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(flux_events)
def test_valid_flux_events_are_queued(event):
    queue = MemoryQueue()
    answer = Receiver(queue).handle("POST", "/", {"Content-Type": "application/json"}, json.dumps(event).encode())
    assert answer.status == 202, answer.body
    assert len(queue.messages) == 1


@FAST
@given(flux_events, st.sampled_from([
    ("severity",), ("timestamp",), ("message",), ("metadata",), ("involvedObject",), ("involvedObject", "kind"),
    ("involvedObject", "name"), ("reportingController",), ("reason",)]), json_values)
def test_mutated_events_never_produce_5xx(event, path, value):
    queue = MemoryQueue()
    body = json.dumps(mutate(event, path, value)).encode()
    check(Receiver(queue).handle("POST", "/", {}, body), queue, 0)


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes_never_produce_5xx(body):
    queue = MemoryQueue()
    check(Receiver(queue).handle("POST", "/", {}, body), queue, 0)


@FAST
@given(json_values)
def test_random_json_never_produces_5xx(value):
    queue = MemoryQueue()
    check(Receiver(queue).handle("POST", "/", {}, json.dumps(value).encode()), queue, 0)


VALID = {"involvedObject": {"kind": "Bucket", "namespace": "a", "name": "b"}, "severity": "info"}
CORPUS = [
    b"", b" ", b"null", b"0", b'"text"', b"[]", b"{", b"}", b"{}", b'{"involvedObject": null}',
    b"\xef\xbb\xbf{}", b'{"severity": "info"}', b'{"involvedObject": {}}', b'{"involvedObject": []}',
    b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}}',
    b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "INFO"}',
    b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "info", "timestamp": "2026-13-01T00:00:00Z"}',
    b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "info", "timestamp": "2026-11-25 10:00:00"}',
    b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "info", "metadata": []}',
    b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "info", "metadata": {"a": {}}}',
    b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "info", "message": 1e400}',
    b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "info", "x": Infinity}',
    b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "info"} trailing',
    b'{"a": ' * 100 + b"1" + b"}" * 100,
    b"[" * 100_000,
    json.dumps({**VALID, "message": "\ud800"}).encode(),
    json.dumps({**VALID, "involvedObject": {"kind": 1, "name": "b", "namespace": "c"}}).encode(),
    b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "info", "metadata": {"k": "\\u0000"}}',
]


def test_corpus_of_malformed_bodies():
    for body in CORPUS:
        queue = MemoryQueue()
        answer = Receiver(queue).handle("POST", "/", {}, body)
        check(answer, queue, 0)
        if body.startswith(b'{"involvedObject": {"kind": "A", "name": "b", "namespace": "c"}, "severity": "info", "metadata": {"k"'):
            assert answer.status == 202  # control characters are legal JSON string content
