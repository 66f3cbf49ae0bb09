"""sns and eventbridge Providers end to end: through the DispatcherFunction handler on moto
(in-process), and through `fluxnotify serve` with AWS_ENDPOINT_URL pointing at a moto server
on 127.0.0.1. What arrives is read from SQS queues subscribed to the topic / targeted by a rule."""

from __future__ import annotations

import importlib.util
import json
import signal
import time
import uuid
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer
from test_serve import free_port, post, start

from fluxnotify.providers.aws import shared
from fluxnotify.queue.messages import Envelope

ROOT = Path(__file__).resolve().parents[2]
EVENT = json.loads((ROOT / "events" / "bodies" / "kustomization-reconciled.json").read_text())
CREDENTIALS = {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def manifest(kind: str, name: str, spec: dict, annotations: dict | None = None) -> dict:
    metadata = {"name": name, "namespace": "flux-system", **({"annotations": annotations} if annotations else {})}
    return {"apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": kind, "metadata": metadata, "spec": spec}


def objects(topic: str, bus: str) -> list[dict]:
    every = [{"kind": "Kustomization", "name": "*"}]
    return [
        manifest("Provider", "topic", {"type": "sns", "channel": topic}),
        manifest("Provider", "chatbot", {"type": "sns", "channel": topic}, {"fluxnotify.io/format": "chatbot"}),
        manifest("Provider", "bus", {"type": "eventbridge", "channel": bus}),
        manifest("Alert", "to-topic", {"providerRef": {"name": "topic"}, "eventSources": every}),
        manifest("Alert", "to-chatbot", {"providerRef": {"name": "chatbot"}, "eventSources": every}),
        manifest("Alert", "to-bus", {"providerRef": {"name": "bus"}, "eventSources": every}),
    ]


def targets(endpoint: str | None = None) -> dict:
    """A topic with a raw-delivery SQS subscriber; a bus whose rule targets another queue."""
    sns, sqs, events = (boto3.client(s, endpoint_url=endpoint, region_name="eu-west-1")
                        for s in ("sns", "sqs", "events"))

    def queue(name: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    topic = sns.create_topic(Name="flux-events")["TopicArn"]
    topic_queue, topic_queue_arn = queue("from-topic")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=topic_queue_arn, Attributes={"RawMessageDelivery": "true"})
    bus = events.create_event_bus(Name="flux")["EventBusArn"]
    bus_queue, bus_queue_arn = queue("from-bus")
    events.put_rule(Name="flux", EventBusName="flux", EventPattern=json.dumps({"source": ["fluxnotify"]}))
    events.put_targets(Rule="flux", EventBusName="flux", Targets=[{"Id": "q", "Arn": bus_queue_arn}])
    return {"sqs": sqs, "topic": topic, "bus": bus, "topic_queue": topic_queue, "bus_queue": bus_queue}


def wait_for(sqs, queue: str, count: int, timeout: float = 30.0) -> list[dict]:
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        found += sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                     WaitTimeSeconds=0).get("Messages", [])
        if len(found) < count:
            time.sleep(0.2)
    return found


def check_arrivals(aws: dict, reason: str) -> None:
    """One JSON and one Chatbot message on the topic, one event on the bus."""
    on_topic = [json.loads(m["Body"]) for m in wait_for(aws["sqs"], aws["topic_queue"], 2)]
    (plain,) = [m for m in on_topic if "involvedObject" in m]
    (chatbot,) = [m for m in on_topic if m.get("source") == "custom"]
    assert plain["involvedObject"]["name"] == EVENT["involvedObject"]["name"] and plain["reason"] == reason
    assert "cluster" in plain
    assert chatbot["version"] == "1.0" and chatbot["content"]["textType"] == "client-markdown"
    assert chatbot["metadata"]["eventType"] == f"Kustomization {reason}"
    (on_bus,) = [json.loads(m["Body"]) for m in wait_for(aws["sqs"], aws["bus_queue"], 1)]
    assert on_bus["source"] == "fluxnotify" and on_bus["detail-type"] == f"Kustomization {reason}"
    assert on_bus["detail"]["involvedObject"] == plain["involvedObject"]


# --- the Lambda dispatcher on moto ----------------------------------------------------------


class FakeContext:
    function_name = "fluxnotify-dispatcher"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:fluxnotify-dispatcher"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


@pytest.fixture
def lambda_aws(monkeypatch):
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    shared.forget_clients()
    with mock_aws():
        found = targets()
        sqs = found["sqs"]
        queue, dlq = (sqs.create_queue(QueueName=n)["QueueUrl"] for n in ("events", "dead"))
        boto3.client("dynamodb").create_table(
            TableName="state", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
        ssm = boto3.client("ssm")
        missing = manifest("Provider", "missing", {"type": "sns", "channel": found["topic"] + "-gone"})
        lost = manifest("Alert", "to-missing", {"providerRef": {"name": "missing"},
                                                "eventSources": [{"kind": "Kustomization", "name": "lost"}]})
        for obj in [*objects(found["topic"], "flux"), missing, lost]:
            ssm.put_parameter(Name=f"/fluxnotify/flux-system/{obj['kind']}/{obj['metadata']['name']}",
                              Type="String", Value=json.dumps(obj))
        for key, value in {"QUEUE_URL": queue, "DLQ_URL": dlq, "STATE_TABLE": "state", "CONFIG_PREFIX": "/fluxnotify",
                           "SECRETS_PREFIX": "fluxnotify", "RETRY_BASE_SECONDS": "0"}.items():
            monkeypatch.setenv(key, value)
        spec = importlib.util.spec_from_file_location("dispatcher_app_aws", ROOT / "functions/dispatcher/app.py")
        handler = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(handler)
        yield {**found, "queue": queue, "dlq": dlq, "handler": handler}
    shared.forget_clients()


def record(name: str) -> dict:
    event = {**EVENT, "involvedObject": {**EVENT["involvedObject"], "name": name}}
    return {"messageId": str(uuid.uuid4()), "receiptHandle": "r", "body": Envelope(event=event).to_json(),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "eventSource": "aws:sqs", "awsRegion": "eu-west-1"}


def test_dispatcher_publishes_to_sns_and_eventbridge(lambda_aws):
    answer = lambda_aws["handler"].lambda_handler({"Records": [record(EVENT["involvedObject"]["name"])]},
                                                  FakeContext())
    assert answer == {"batchItemFailures": []}
    check_arrivals(lambda_aws, EVENT["reason"])
    assert wait_for(lambda_aws["sqs"], lambda_aws["dlq"], 1, timeout=0.5) == []


def test_dispatcher_dead_letters_an_unknown_topic_at_once(lambda_aws):
    lambda_aws["handler"].lambda_handler({"Records": [record("lost")]}, FakeContext())
    (dead,) = wait_for(lambda_aws["sqs"], lambda_aws["dlq"], 1)
    assert f"failed to publish to SNS topic {lambda_aws['topic']}-gone: NotFound" in dead["Body"]
    assert wait_for(lambda_aws["sqs"], lambda_aws["queue"], 1, timeout=0.5) == []  # no retry queued


# --- `fluxnotify serve` with a moto server ---------------------------------------------------


@pytest.fixture
def moto_server(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    yield f"http://{host}:{port}"
    server.stop()


def test_serve_publishes_to_sns_and_eventbridge(tmp_path, moto_server, monkeypatch):
    aws = targets(moto_server)
    config = tmp_path / "flux.yaml"
    config.write_text("\n---\n".join(json.dumps(o) for o in objects(aws["topic"], aws["bus"])))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)  # inherited by the serve process
    port = free_port()
    process = start(config, tmp_path / "q.db", port)
    try:
        status, _ = post(f"http://127.0.0.1:{port}/", json.dumps(EVENT).encode())
        assert status == 202
        check_arrivals(aws, EVENT["reason"])
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
