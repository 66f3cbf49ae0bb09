"""Dispatch worker (child process of bench/dispatch.py): deliveries/s of Dispatcher.handle.

Builds the dispatcher as the Lambda handler does (Powertools Logger at INFO, logs
to /dev/null), with a FileStore of N generic Providers at the sink (one Alert
each, so every event fans out to N deliveries) and in-memory queues. One warm-up
event opens the pooled connections, then M queue messages (distinct events, the
receiver's envelope) are handled one after another like an SQS batch. Prints
deliveries/s and the process's peak RSS (VmHWM).

    python bench/dispatch_worker.py --sink-port P --providers 4 --events 500
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

from common import MARKER, event_template, flux_config


class MemoryQueue:
    def __init__(self):
        self.messages: list[str] = []

    def send(self, body: str, delay: int = 0) -> str:
        self.messages.append(body)
        return str(len(self.messages))


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


def batches(dispatcher, bodies: list[str], size: int, metrics) -> int:
    """Through the Lambda handler's batch runner, `size` records at a time; deliveries made."""
    from fluxnotify.delivery.batch import BatchRunner
    from fluxnotify.delivery.dispatcher import DELIVERED

    delivered = [0]

    def handle(body: str, message_id: str, deadline) -> None:
        results = dispatcher.handle(body, message_id, deadline)
        delivered[0] += sum(r.outcome == DELIVERED for r in results)  # one thread at a time per += under the GIL

    runner = BatchRunner(handle, concurrency=size)
    for start in range(0, len(bodies), size):
        chunk = bodies[start : start + size]
        runner.run({"Records": [{"messageId": f"m{start + i}", "body": b} for i, b in enumerate(chunk)]})
        metrics.flush()
    return delivered[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sink-port", type=int, required=True)
    parser.add_argument("--providers", type=int, default=4)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--batch", type=int, default=1, help="records handled at once (the Lambda handler's batch)")
    args = parser.parse_args()

    from aws_lambda_powertools import Logger

    from fluxnotify.config.files import FileStore
    from fluxnotify.delivery.dispatcher import DELIVERED, Dispatcher
    from fluxnotify.metrics import EmfMetrics
    from fluxnotify.model.manifests import load_yaml

    Logger(service="fluxnotify", level="INFO", logger_handler=logging.StreamHandler(open(os.devnull, "w")))
    store = FileStore(load_yaml(flux_config(args.sink_port, args.providers), "bench.yaml"))
    metrics = EmfMetrics(out=open(os.devnull, "w"))  # as on Lambda: flushed once per batch
    dispatcher = Dispatcher(store, MemoryQueue(), MemoryQueue(), metrics=metrics)
    warm, *bodies = messages(args.events + 1)
    dispatcher.handle(warm)
    started, cpu = time.perf_counter(), time.process_time()
    if args.batch == 1:
        delivered = sum(r.outcome == DELIVERED for body in bodies for r in dispatcher.handle(body))
    else:
        delivered = batches(dispatcher, bodies, args.batch, metrics)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"deliveries": delivered, "expected": args.events * args.providers, "seconds": seconds,
                      "per_s": delivered / seconds, "cpu_us_per_delivery": cpu / max(1, delivered) * 1e6,
                      "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
