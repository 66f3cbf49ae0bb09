"""Lambda batch: 10 SQS records × 3 providers answering in 100 ms, through the handler's path.

A sink process that answers every request after DELAY_MS (bench/sink.py --delay-ms), three
generic Providers there and an Alert each, and the dispatcher as functions/dispatcher/app.py
builds it (BatchRunner → Dispatcher, EMF metrics, Powertools Logger at INFO to /dev/null),
with in-memory queues and a file config store. Side by side, alternating: one batch of
RECORDS distinct records through ``BatchRunner.run`` (fake context, 120 s left), and the
ideal — one request to the same sink (one provider latency). Prints medians and the ratio.

    python bench/lambda_batch.py [--worker --sink-port P --rounds N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time

from common import BENCH, HOST, PYTHON, free_port, run_json, spawn, stop, wait_for_port

RECORDS, PROVIDERS, DELAY_MS = 10, 3, 100


class Context:
    def __init__(self, seconds: float = 120.0):
        self.ends = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends - time.monotonic()) * 1000)


class MemoryQueue:
    def send(self, body: str, delay: int = 0) -> str:
        return "1"


def worker(port: int, rounds: int) -> dict:
    import urllib3
    from aws_lambda_powertools import Logger
    from common import flux_config
    from dispatch_worker import messages

    from fluxnotify.config.files import FileStore
    from fluxnotify.delivery.batch import BatchRunner
    from fluxnotify.delivery.dispatcher import Dispatcher
    from fluxnotify.metrics import EmfMetrics
    from fluxnotify.model.manifests import load_yaml

    Logger(service="fluxnotify", level="INFO", logger_handler=logging.StreamHandler(open(os.devnull, "w")))
    metrics = EmfMetrics(out=open(os.devnull, "w"))
    dispatcher = Dispatcher(FileStore(load_yaml(flux_config(port, PROVIDERS), "bench.yaml")), MemoryQueue(),
                            MemoryQueue(), metrics=metrics)
    runner = BatchRunner(dispatcher.handle)
    bodies = messages(RECORDS * (rounds + 1))
    batches = [{"Records": [{"messageId": f"m{i}-{j}", "body": bodies[i * RECORDS + j]} for j in range(RECORDS)]}
               for i in range(rounds + 1)]
    client = urllib3.PoolManager()
    url = f"http://{HOST}:{port}/ideal"
    client.request("POST", url, body=b"{}")
    runner.run(batches[0], Context())  # warm-up: connections open
    batch_s, ideal_s, failures = [], [], 0
    for batch in batches[1:]:
        started = time.perf_counter()
        client.request("POST", url, body=b"{}", headers={"Content-Type": "application/json"})
        ideal_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        failures += len(runner.run(batch, Context())["batchItemFailures"])
        batch_s.append(time.perf_counter() - started)
        metrics.flush()
    return {"batch_s": batch_s, "ideal_s": ideal_s, "failures": failures}


def run(repeats: int = 3) -> dict:
    port = free_port()
    sink = spawn([PYTHON, str(BENCH / "sink.py"), "--port", str(port), "--delay-ms", str(DELAY_MS)])
    try:
        wait_for_port(port)
        result = run_json([PYTHON, str(BENCH / "lambda_batch.py"), "--worker", "--sink-port", str(port),
                           "--rounds", str(5 * repeats)])
    finally:
        stop(sink)
    batch, ideal = statistics.median(result["batch_s"]), statistics.median(result["ideal_s"])
    ratios = [b / i for b, i in zip(result["batch_s"], result["ideal_s"], strict=True)]
    return {"records": RECORDS, "providers": PROVIDERS, "delay_ms": DELAY_MS, "rounds": len(ratios),
            "batch_ms": batch * 1000, "ideal_ms": ideal * 1000, "ratio": statistics.median(ratios),
            "deliveries_per_s": RECORDS * PROVIDERS / batch, "failures": result["failures"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--sink-port", type=int)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.sink_port, args.rounds)))
    else:
        print(json.dumps(run(max(1, args.rounds // 5)), indent=2))


if __name__ == "__main__":
    sys.exit(main())
