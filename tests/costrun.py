"""A fleet on moto driven through both Lambda handlers, its AWS calls counted (tests/awscalls.py).

Used by the cost benchmark (bench/cost.py) and tests/integration/test_aws_calls_per_event.py.
The deployment is the template's, every feature on: one table for dedup, ledger and status,
the token secret with ``clusters`` clusters' tokens, ``secrets`` Secrets (three used: one per
Provider), Providers ``slack``, ``msteams`` and ``generic-hmac`` on real HTTP servers on
127.0.0.1 with an Alert each (every event goes to all three), EMF metrics and Powertools
logs at INFO. ``run`` posts ``events`` distinct events through the receiver handler (API
Gateway v2 events, one cluster's token after another), then hands the queue to the
dispatcher handler in batches of ``batch`` records (as the SQS event source does), the last
``singles`` one record per invocation (phase ``dispatcher1``). Everything the handlers write to stdout is counted
per function; each invocation's duration is measured.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
for path in (HERE, HERE / "integration"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from awscalls import AwsCalls, moto_items  # noqa: E402
from statetable import create_state_table  # noqa: E402
from test_dispatcher_lambda import FakeContext  # noqa: E402
from test_lambda_pipeline import Context, api_event, body_of, load_handler  # noqa: E402

from fluxnotify.config.secretstore import SsmSecretsClient  # noqa: E402
from fluxnotify.settings import Settings  # noqa: E402
from httpsink import HttpSink  # noqa: E402

MOTO_LOCK = threading.Lock()  # moto answers one request (or item lookup) at a time
PROVIDER_TYPES = {"slack": "slack", "teams": "msteams", "audit": "generic-hmac"}


@dataclass
class Run:
    """What one run measured."""

    events: int
    calls: AwsCalls
    durations_ms: dict[str, list[tuple[int, float]]]  # function → (records, ms) per invocation
    log_bytes: dict[str, int]
    log_lines: dict[str, int]  # EMF documents included
    emf_lines: dict[str, int]
    emf: set[tuple[str, tuple]]  # (metric, dimensions) seen
    message_bytes: list[int]  # queue messages as the dispatcher received them
    delivered: int
    secrets_used: int
    problems: list[str] = field(default_factory=list)  # the handlers' WARNING and ERROR lines


class CountingStream(io.TextIOBase):
    """Stands in for the handlers' stdout: counts bytes and lines per ``current`` function."""

    def __init__(self):
        self.current = ""
        self.bytes: dict[str, int] = defaultdict(int)
        self.lines: dict[str, int] = defaultdict(int)
        self.emf_lines: dict[str, int] = defaultdict(int)
        self.emf: set[tuple[str, tuple]] = set()
        self.problems: list[str] = []  # WARNING and ERROR lines
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.bytes[self.current] += len(text.encode())
            self.lines[self.current] += text.count("\n")
            for line in text.splitlines():
                self._emf(line)
                if '"level":"WARNING"' in line or '"level":"ERROR"' in line:
                    self.problems.append(line)
        return len(text)

    def _emf(self, line: str) -> None:
        if '"_aws"' not in line:
            return
        self.emf_lines[self.current] += 1
        document = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            dims = tuple((name, document[name]) for names in directive["Dimensions"] for name in names)
            self.emf.update((metric["Name"], dims) for metric in directive["Metrics"])


def provider(name: str, kind: str, sink_url: str) -> dict:
    spec = {"type": kind, "secretRef": {"name": f"{name}-secret"}}
    if kind == "slack":
        spec["channel"] = "ops"
    return {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Provider",
            "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec}


def alert(name: str) -> dict:
    return {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": f"to-{name}", "namespace": "flux-system"},
            "spec": {"providerRef": {"name": name}, "eventSources": [{"kind": "Kustomization", "name": "*"}]}}


def event_body(n: int) -> str:
    event = json.loads(body_of())
    event["involvedObject"]["name"] = f"app-{n % 50}"
    event["message"] = f"{event['message']} (#{n})"  # every event distinct: none is a duplicate
    return json.dumps(event)


def run(events: int = 300, *, clusters: int = 200, secrets: int = 250, batch: int = 10, singles: int = 0,
        provider_ms: float = 0.0, aws_ms: float = 0.0) -> Run:
    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "LOG_LEVEL": "INFO", "POWERTOOLS_SERVICE_NAME": "fluxnotify", "POWERTOOLS_METRICS_NAMESPACE": "fluxnotify"}
    with mock.patch.dict(os.environ, env), HttpSink() as sink:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        sink.server.socket.listen(128)  # a batch opens 30 connections at once: more than the default backlog
        if provider_ms:
            sink.handler = lambda _request: (time.sleep(provider_ms / 1000), (200, {}, b"ok"))[1]
        from moto import mock_aws

        with mock_aws(), _one_request_at_a_time():
            return _run(sink, events, clusters, secrets, batch, singles, aws_ms)


def _one_request_at_a_time():
    """moto's DynamoDB is not thread-safe (a transaction copies the tables while another thread
    writes: "dictionary changed size during iteration"): moto answers one request at a time.
    The handlers' requests still overlap in flight (AwsCalls' latency is outside the lock)."""
    from moto.core.botocore_stubber import BotocoreStubber

    process = BotocoreStubber.process_request

    def locked(self, request):
        with MOTO_LOCK:
            return process(self, request)

    return mock.patch.object(BotocoreStubber, "process_request", locked)


def _run(sink: HttpSink, events: int, clusters: int, secrets: int, batch: int, singles: int, aws_ms: float) -> Run:
    import boto3

    setup = boto3.session.Session()  # not counted: the test's own calls
    tokens = _deploy(setup, sink.url, clusters, secrets)
    boto3.setup_default_session()  # the handlers' clients come from this one: counted
    calls = AwsCalls(boto3.DEFAULT_SESSION, moto_items(lock=MOTO_LOCK), latency_ms=aws_ms).install()
    receiver, dispatcher = load_handler("receiver"), load_handler("dispatcher")
    stream = CountingStream()
    durations: dict[str, list[tuple[int, float]]] = defaultdict(list)
    with _captured(stream, receiver, dispatcher):
        calls.phase = stream.current = "receiver"
        for n in range(events):
            token = tokens[n % len(tokens)]
            durations["receiver"].append((1, _timed(receiver.lambda_handler, api_event(event_body(n), path=f"/{token}"),
                                                    Context(), expect=lambda a: a["statusCode"] == 202)))
        records = _drain(setup)
        calls.phase = stream.current = "dispatcher"
        chunks = [records[i:i + batch] for i in range(0, len(records) - singles, batch)]
        chunks += [[r] for r in records[len(records) - singles:]] if singles else []
        for chunk in chunks:
            if len(chunk) == 1 and singles:
                calls.phase = stream.current = "dispatcher1"  # one record per invocation
            durations["dispatcher"].append((len(chunk), _timed(dispatcher.lambda_handler, {"Records": chunk},
                                                               FakeContext(), expect=lambda a: not a["batchItemFailures"])))
    sink.wait_for(3 * events, timeout=10)
    return Run(events, calls, dict(durations), dict(stream.bytes), dict(stream.lines), dict(stream.emf_lines), stream.emf,
               [len(r["body"].encode()) for r in records], len(sink.requests), len(PROVIDER_TYPES), stream.problems)


def _timed(handler, event, context, expect) -> float:
    started = time.perf_counter()
    answer = handler(event, context)
    elapsed = (time.perf_counter() - started) * 1000
    if not expect(answer):
        raise AssertionError(f"unexpected handler answer: {answer}")
    return elapsed


def _deploy(session, sink_url: str, clusters: int, secrets: int) -> list[str]:
    """Queues, table, Secrets and config as the template and `fluxnotify import` make them."""
    sqs = session.client("sqs")
    queue = sqs.create_queue(QueueName="events")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    create_state_table(session.client("dynamodb"))
    manager, ssm = session.client("secretsmanager"), session.client("ssm")
    tokens = {f"cluster-{i:03d}": [f"token-{i:03d}-0123456789abcdef"] for i in range(clusters)}
    token_arn = manager.create_secret(Name="webhook-token", SecretString=json.dumps(tokens))["ARN"]
    values = {"slack": {"address": f"{sink_url}/slack"}, "teams": {"address": f"{sink_url}/teams"},
              "audit": {"address": f"{sink_url}/audit", "token": "hmac-key-42"}}
    # The Secrets where the template's default SecretStore keeps them, as `fluxnotify import` writes them.
    store = SsmSecretsClient(ssm, "fluxnotify") if Settings().secret_store == "ssm" else manager
    for name, value in values.items():
        store.create_secret(Name=f"fluxnotify/flux-system/{name}-secret", SecretString=json.dumps(value))
    for n in range(secrets - len(values)):  # the fleet's other Secrets: stored, not read here
        store.create_secret(Name=f"fluxnotify/team-{n % 20}/other-{n}", SecretString='{"token": "x"}')
    for obj in [*(provider(n, k, sink_url) for n, k in PROVIDER_TYPES.items()), *map(alert, PROVIDER_TYPES)]:
        ssm.put_parameter(Name=f"/fluxnotify/flux-system/{obj['kind']}/{obj['metadata']['name']}",
                          Type="String", Value=json.dumps(obj))
    ssm.put_parameter(Name="/fluxnotify/_meta/version", Type="String", Value="1")  # as `fluxnotify import`
    os.environ.update({"QUEUE_URL": queue, "DLQ_URL": dlq, "DEDUP_TABLE": "state", "STATE_TABLE": "state",
                       "WEBHOOK_TOKEN_SECRET": token_arn, "CONFIG_PREFIX": "/fluxnotify",
                       "SECRETS_PREFIX": "fluxnotify", "RATE_LIMIT_INTERVAL": "300"})
    return [first for first, *_ in tokens.values()]


def _drain(session) -> list[dict]:
    """The queue's messages as SQS event records (the event source mapping's work: priced apart)."""
    sqs = session.client("sqs")
    url = os.environ["QUEUE_URL"]
    records = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        for m in messages:
            records.append({"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                            "eventSource": "aws:sqs", "awsRegion": "us-east-1"})
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return records


class _captured:
    """The handlers' log lines and EMF documents go to ``stream``, the log level is INFO."""

    def __init__(self, stream: CountingStream, *handlers):
        self.stream, self.handlers = stream, handlers
        self.logger = logging.getLogger("fluxnotify")

    def __enter__(self):
        self.saved = [(h.logger.registered_handler, h.logger.registered_handler.stream) for h in self.handlers]
        self.level = self.logger.level
        self.logger.setLevel(logging.INFO)  # setLevel also clears the child loggers' cached levels
        for handler in self.handlers:
            handler.logger.registered_handler.stream = self.stream
            handler.metrics._out = self.stream

    def __exit__(self, *exc):
        for registered, stream in self.saved:
            registered.stream = stream
        self.logger.setLevel(self.level)
