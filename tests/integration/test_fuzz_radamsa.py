"""Fuzzing with an external mutator: radamsa over events/bodies/ (issue 13, "Done when").

Each case is a radamsa mutation of a sample Flux event, sent three ways:

* as the body of a well-formed POST to the local server (LocalStack over a raw socket);
* as a whole mutated HTTP request (head and body) to the same server, half-closed after
  sending, so a mutated Content-Length meets the truncation rule instead of a wait;
* as the body of an API Gateway event to the receiver Lambda handler's adapter.

Every answer must be a complete HTTP response with a status below 500 and a JSON body;
none may be a dropped connection. The mutator is the `radamsa` program (Debian's package,
.ci/install-radamsa.sh) or, where the distribution has none, libradamsa through the
`pyradamsa` wheel; without either the test is skipped with that reason. FUZZ_CASES sets the
number of cases (default 300; the figures in docs/local.md come from a longer run).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from fluxnotify.ingress.apigw import handle_api_event
from fluxnotify.ingress.receiver import Receiver
from fluxnotify.ops.local import LocalStack
from fluxnotify.state.dedup import NoDedup
from helpers import MemoryQueue

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((ROOT / "events" / "bodies").glob("*.json"))
CASES = int(os.environ.get("FUZZ_CASES", "300"))


def mutations(count: int) -> list[bytes]:
    """`count` radamsa mutations of the sample bodies (deterministic seeds)."""
    program = shutil.which("radamsa")
    if program:
        with tempfile.TemporaryDirectory() as out:
            subprocess.run([program, "--seed", "1", "-n", str(count), "-o", f"{out}/%n", *map(str, SEEDS)],
                           check=True, timeout=600)
            return [Path(out, str(n)).read_bytes() for n in range(1, count + 1)]
    try:
        import pyradamsa
    except ImportError:
        pytest.skip("no radamsa: install Debian's radamsa (.ci/install-radamsa.sh) or the pyradamsa wheel")
    mutator = pyradamsa.Radamsa()
    seeds = [path.read_bytes() for path in SEEDS]
    return [mutator.fuzz(seeds[n % len(seeds)], seed=n, max_mut=len(seeds[n % len(seeds)]) * 2)
            for n in range(count)]


def http_post(body: bytes) -> bytes:
    return (b"POST / HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)) + body


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer (and close) before reading everything
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


def verdict(raw: bytes) -> str:
    """'dropped', '5xx', 'not json' or the status of the first of the complete HTTP answers
    (bytes after a request's declared body are the next pipelined request: several answers)."""
    if not raw:
        return "dropped"
    statuses = []
    while raw:
        head, separator, rest = raw.partition(b"\r\n\r\n")
        if not separator or not head.startswith(b"HTTP/1.1 "):
            return "dropped"
        lines = head.split(b"\r\n")
        length = next((int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length:")), 0)
        statuses.append(int(lines[0].split()[1]))
        if statuses[-1] >= 500:
            return "5xx"
        try:
            json.loads(rest[:length])
        except ValueError:
            return "not json"
        raw = rest[length:]
    return str(statuses[0])


@pytest.fixture(scope="module")
def cases() -> list[bytes]:
    return mutations(CASES)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    config = root / "flux.yaml"
    config.write_text("apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\n"
                      "metadata: {name: p, namespace: flux-system}\nspec: {type: generic, address: http://127.0.0.1:9/}\n")
    stack = LocalStack([str(config)], port=0, database=str(root / "q.db"), workers=0, read_timeout=2).start()
    yield stack
    stack.stop()


def report(name: str, outcomes: Counter) -> None:
    print(f"\nradamsa {name}: {sum(outcomes.values())} cases, outcomes {dict(sorted(outcomes.items()))}")
    bad = {k: v for k, v in outcomes.items() if k in ("dropped", "5xx", "not json")}
    assert not bad, f"{name}: {bad}"


def test_mutated_bodies_against_the_local_server(server, cases):
    port = server.server.server_address[1]
    report("bodies → local server", Counter(verdict(exchange(port, http_post(body))) for body in cases))


def test_mutated_requests_against_the_local_server(server, cases):
    port = server.server.server_address[1]
    seeds = [http_post(path.read_bytes()) for path in SEEDS]
    requests = [seeds[n % len(seeds)][:120] + body for n, body in enumerate(cases)]  # head kept, body fuzzed
    whole = _mutate_requests(seeds, len(cases) // 2)
    # A mutation down to nothing (or a bare newline) is no request: closing without an answer is right.
    outcomes = Counter(verdict(exchange(port, data)) if data.strip() else "no request" for data in requests + whole)
    report("whole requests → local server", outcomes)


def _mutate_requests(seeds: list[bytes], count: int) -> list[bytes]:
    """Mutations of whole HTTP requests (request line, headers, framing and body)."""
    program = shutil.which("radamsa")
    if program:
        with tempfile.TemporaryDirectory() as folder:
            paths = []
            for n, seed in enumerate(seeds):
                paths.append(Path(folder, f"seed{n}"))
                paths[-1].write_bytes(seed)
            subprocess.run([program, "--seed", "2", "-n", str(count), "-o", f"{folder}/out-%n", *map(str, paths)],
                           check=True, timeout=600)
            return [Path(folder, f"out-{n}").read_bytes() for n in range(1, count + 1)]
    import pyradamsa

    mutator = pyradamsa.Radamsa()
    return [mutator.fuzz(seeds[n % len(seeds)], seed=10_000 + n) for n in range(count)]


def test_mutated_bodies_against_the_receiver_handler(cases):
    template = json.loads((ROOT / "events" / "api-kustomization-reconciled.json").read_text())
    outcomes: Counter = Counter()
    for n, body in enumerate(cases):
        event = dict(template)
        if n % 2:
            event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
        else:
            event.update(body=body.decode("utf-8", "surrogateescape"), isBase64Encoded=False)
        queue = MemoryQueue()
        answer = handle_api_event(Receiver(queue, NoDedup()), event)
        json.loads(answer["body"])
        status = answer["statusCode"]
        assert len(queue.messages) == (1 if status == 202 else 0)
        outcomes["5xx" if status >= 500 else str(status)] += 1
    report("bodies → receiver handler", outcomes)
