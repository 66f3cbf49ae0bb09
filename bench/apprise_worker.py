"""Apprise worker (child process of bench/dispatch.py, runs in bench/.venv-apprise).

The same work as bench/dispatch_worker.py with Apprise: N `json://` URLs at the
sink, M notify() calls (one per event, distinct bodies), so M×N JSON
notifications, from C threads at once (the dispatcher's concurrency; Apprise sends one
notify()'s N notifications in parallel itself). One warm-up notify() first. Prints
notifications/s, CPU per notification and peak RSS.

    bench/.venv-apprise/bin/python bench/apprise_worker.py --sink-port P --providers 4 --events 600 --concurrency 10
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor

import apprise
from dispatch_worker import peak_rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sink-port", type=int, required=True)
    parser.add_argument("--providers", type=int, default=4)
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=1, help="threads calling notify() at once")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    notifier = apprise.Apprise()
    for i in range(args.providers):
        notifier.add(f"json://127.0.0.1:{args.sink_port}/apprise-{i}")
    notifier.notify(body="warm-up", title="bench")

    def one(n: int) -> int:
        ok = notifier.notify(body=f"Deployment/apps/podinfo configured\nbench-id:{n};", title="Kustomization/apps")
        return args.providers if ok else 0

    started, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(args.concurrency) as pool:
        sent = sum(pool.map(one, range(args.events)))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"deliveries": sent, "expected": args.events * args.providers, "seconds": seconds,
                      "per_s": sent / seconds, "cpu_us_per_delivery": cpu / max(1, sent) * 1e6,
                      "peak_rss_mb": peak_rss_mb(), "version": apprise.__version__}))


if __name__ == "__main__":
    main()
