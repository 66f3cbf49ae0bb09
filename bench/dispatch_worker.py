"""Dispatch worker (child process of bench/dispatch.py): deliveries/s through the Lambda handler.

Calls ``lambda_handler`` of functions/dispatcher/app.py, as deployed: Powertools Logger at
INFO (its lines go to /dev/null, as stdout is Lambda's log stream), EMF metrics flushed once
per invocation, one summary line per invocation, the same BatchRunner and Dispatcher the
handler builds (``app.build``). Only what the handler reaches over the network is local:
its configuration is read by the AwsStore from an in-memory SSM answering the two calls it
makes (GetParameter, GetParametersByPath), stored as `fluxnotify import` stores it (N generic
Providers at the sink, one Alert each: every event fans out to N deliveries); the queues are
in memory; the state table's stores are in memory with the
dispatcher's write pattern (silences read once a minute, status merged per invocation —
the merged writes themselves, DynamoDB calls, are counted, not made; no ledger).

One warm-up invocation opens the pooled connections, then M queue messages (distinct
events, the receiver's envelope) go through the handler in SQS batches of B records (first
receipts). Prints deliveries/s, CPU per delivery and the process's peak RSS (VmHWM); with
``--profile``, runs the same messages again one by one under cProfile and adds the top
functions by cumulative time.

    python bench/dispatch_worker.py --sink-port P --providers 4 --events 600 --batch 10 [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from common import MARKER, ROOT, event_template, flux_config, sink_stats

ENV = {"QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/events",
       "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dead", "AWS_DEFAULT_REGION": "us-east-1",
       "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "POWERTOOLS_SERVICE_NAME": "fluxnotify",
       "POWERTOOLS_LOG_LEVEL": "INFO", "FLUXNOTIFY_TRACING": "false"}
CONFIG_PREFIX = "/fluxnotify/config"


class MemoryQueue:
    def __init__(self):
        self.messages: list[str] = []

    def send(self, body: str, delay: int = 0) -> str:
        self.messages.append(body)
        return str(len(self.messages))


class CountedWrites:
    """The status table's side of BatchedStatus: counts the merged writes a flush would make,
    merged per (Alert, Provider) pair as DynamoStatus merges them."""

    def __init__(self):
        from fluxnotify.state.status import changes_by_pair

        self.changes = changes_by_pair
        self.writes = 0

    def write_change(self, change) -> None:
        self.writes += 1


class MemorySsm:
    """Parameter Store's two reads the AwsStore makes, on a dict (boto3 and its stubs would
    weigh on the worker's RSS, not on the handler's work: the snapshot is read once)."""

    class exceptions:  # noqa: N801 — boto3's spelling
        class ParameterNotFound(Exception):
            pass

    def __init__(self):
        self.parameters: dict[str, str] = {}

    def put_parameter(self, Name: str, Value: str, **_) -> None:  # noqa: N803
        self.parameters[Name] = Value

    def get_parameter(self, Name: str) -> dict:  # noqa: N803
        if Name not in self.parameters:
            raise self.exceptions.ParameterNotFound(Name)
        return {"Parameter": {"Name": Name, "Value": self.parameters[Name]}}

    def get_paginator(self, operation: str):
        assert operation == "get_parameters_by_path"
        return self

    def paginate(self, Path: str, PaginationConfig: dict, **_):  # noqa: N803
        found = [{"Name": k, "Value": v} for k, v in sorted(self.parameters.items()) if k.startswith(Path + "/")]
        size = PaginationConfig["PageSize"]
        return [{"Parameters": found[i : i + size]} for i in range(0, len(found), size)]


class Context:
    """What Lambda passes the handler (Powertools reads these fields)."""

    function_name = "DispatcherFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:DispatcherFunction"
    memory_limit_in_mb = 512
    aws_request_id = "bench"
    log_group_name = log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def messages(count: int) -> list[str]:
    from fluxnotify.model.event import parse_event
    from fluxnotify.queue.messages import new_envelope

    template = event_template()
    first = time.time_ns() // 1000
    return [new_envelope(parse_event(template.replace(MARKER, str(first + i)).encode())).to_json()
            for i in range(count)]


def sqs_event(bodies: list[str], start: int) -> dict:
    """An SQS batch as Lambda's event source mapping hands it over (first receipts)."""
    return {"Records": [{"messageId": f"m{start + i}", "receiptHandle": f"r{start + i}", "body": body,
                         "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
                         "messageAttributes": {}, "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:events", "awsRegion": "us-east-1"}
                        for i, body in enumerate(bodies)]}


def store_config(ssm, sink_port: int, providers: int) -> None:
    """The configuration as `fluxnotify import` writes it: one parameter per object, the marker."""
    from fluxnotify.config.aws import parameter_name
    from fluxnotify.config.snapshot import version_parameter
    from fluxnotify.model.manifests import load_yaml

    for obj in load_yaml(flux_config(sink_port, providers), "bench.yaml"):
        name = parameter_name(CONFIG_PREFIX, obj.metadata.namespace, obj.kind, obj.metadata.name)
        ssm.put_parameter(Name=name, Value=json.dumps(obj.as_dict(), separators=(",", ":")), Type="String")
    ssm.put_parameter(Name=version_parameter(CONFIG_PREFIX), Value="v1", Type="String")


def handler(sink_port: int, providers: int):
    """app.lambda_handler with the runner app.build makes on the stand-ins above."""
    sys.path.insert(0, str(ROOT / "functions" / "dispatcher"))
    import app

    from fluxnotify.config.aws import AwsStore
    from fluxnotify.settings import Settings
    from fluxnotify.state.silences import DYNAMO_REFRESH, ActiveSilences
    from fluxnotify.state.status_batch import BatchedStatus
    from fluxnotify.state.stores import Stores

    ssm = MemorySsm()
    store_config(ssm, sink_port, providers)
    settings = Settings.from_env()
    stores = Stores.memory(status=BatchedStatus(CountedWrites(), app.metrics))
    stores.silences = ActiveSilences(stores.silences.store, DYNAMO_REFRESH)  # as Stores.dynamo reads them
    store = AwsStore(CONFIG_PREFIX, ssm=ssm, secrets=ssm, metrics=app.metrics, settings=settings)
    built = app.build(store, MemoryQueue(), MemoryQueue(), settings, stores)
    app.runner = lambda: built
    return app.lambda_handler, built


def run(handle, bodies: list[str], size: int, offset: int = 0) -> int:
    """Records the handler handed back to SQS (none expected)."""
    failed = 0
    for start in range(0, len(bodies), size):
        answer = handle(sqs_event(bodies[start : start + size], offset + start), Context())
        failed += len(answer["batchItemFailures"])
    return failed


def arrived(port: int) -> int:
    """Requests the sink has answered so far."""
    return sink_stats(port)["count"]


def profile(handle, runner, bodies: list[str], size: int, top: int = 80) -> list[list]:
    """The same work again under cProfile, in the handler's thread and in each record's
    thread: the top functions by cumulative time, as [function, calls, cumulative µs per
    delivery, own µs per delivery] (the handler's threads run at once: their times add up)."""
    import cProfile
    import pstats
    import threading

    local, profilers = threading.local(), []

    def profiled(function):
        def call(*args):
            if getattr(local, "depth", 0):  # already profiled in this thread
                return function(*args)
            profiler = getattr(local, "profiler", None)
            if profiler is None:  # CPU time of this thread: waiting for the GIL or the sink is not work
                profiler = local.profiler = cProfile.Profile(time.thread_time)
                profilers.append(profiler)
            local.depth = 1
            profiler.enable()
            try:
                return function(*args)
            finally:
                profiler.disable()
                local.depth = 0
        return call

    # the records' threads, and the dispatcher's delivery threads when it fans out to them
    dispatcher = runner.handle.__self__
    runner.handle, dispatcher._deliver = profiled(runner.handle), profiled(dispatcher._deliver)
    main = cProfile.Profile(time.thread_time)
    main.enable()
    run(handle, bodies, size, offset=10**6)
    main.disable()
    runner.handle, dispatcher._deliver = dispatcher.handle, type(dispatcher)._deliver.__get__(dispatcher)
    stats = pstats.Stats(main)
    for profiler in profilers:
        stats.add(profiler)
    deliveries = len(bodies) * PROVIDERS_OF_PROFILE[0]
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][3])  # type: ignore[attr-defined]
    out = []
    for (file, line, name), (_, calls, own, cumulative, _) in rows:
        if "lock" in name and "acquire" in name or name in ("wait", "_worker", "run", "_bootstrap_inner", "call"):
            continue  # waiting, not working; the profiler's own wrapper
        where = name if file == "~" else f"{Path(file).parent.name}/{Path(file).name}:{line}({name})"
        out.append([where, calls, round(cumulative / deliveries * 1e6, 1), round(own / deliveries * 1e6, 1)])
    return out[:top]


PROVIDERS_OF_PROFILE = [4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sink-port", type=int, required=True)
    parser.add_argument("--providers", type=int, default=4)
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--batch", type=int, default=10, help="records of an SQS batch (the event source's BatchSize)")
    parser.add_argument("--profile", action="store_true", help="add the top functions under cProfile")
    args = parser.parse_args()
    PROVIDERS_OF_PROFILE[0] = args.providers
    os.environ.update(ENV)
    out, sys.stdout = sys.stdout, open(os.devnull, "w")  # the handler's log stream and EMF documents
    handle, runner = handler(args.sink_port, args.providers)
    warm, *bodies = messages(args.events + 1)
    run(handle, [warm], 1, offset=-1)
    before = arrived(args.sink_port)
    started, cpu = time.perf_counter(), time.process_time()
    failed = run(handle, bodies, args.batch)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    delivered = arrived(args.sink_port) - before
    result = {"deliveries": delivered, "expected": args.events * args.providers, "seconds": seconds,
              "left_to_sqs": failed, "per_s": delivered / seconds,
              "cpu_us_per_delivery": cpu / max(1, delivered) * 1e6, "peak_rss_mb": peak_rss_mb()}
    if args.profile:
        result["profile"] = profile(handle, runner, messages(min(args.events, 300)), args.batch)
    print(json.dumps(result), file=out)


if __name__ == "__main__":
    main()
