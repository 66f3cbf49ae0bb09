"""The ceiling of our HTTP client: a bare urllib3 loop (child process of bench/dispatch.py).

The same deliveries as bench/dispatch_worker.py — EVENTS × PROVIDERS POSTs of the event's
JSON to the sink, one path per provider — from CONCURRENCY threads sharing one
PoolManager, with no routing, encoding, logging or metrics. Prints deliveries/s.

    python bench/urllib3_worker.py --sink-port P --providers 4 --events 500 --concurrency 4
"""

from __future__ import annotations

import argparse
import json
import threading
import time

import urllib3
from common import HOST, MARKER, event_template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sink-port", type=int, required=True)
    parser.add_argument("--providers", type=int, default=4)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    template = event_template()
    jobs = [(f"http://{HOST}:{args.sink_port}/generic-{p}", template.replace(MARKER, str(e)).encode())
            for e in range(args.events + 1) for p in range(args.providers)]
    pool = urllib3.PoolManager(maxsize=args.concurrency)
    headers = {"Content-Type": "application/json"}
    for url, body in jobs[: args.providers]:  # warm-up: open the connections
        pool.request("POST", url, body=body, headers=headers)
    work = jobs[args.providers:]
    lock = threading.Lock()
    done = [0]

    def loop(share: list[tuple[str, bytes]]) -> None:
        ok = 0
        for url, body in share:
            ok += pool.request("POST", url, body=body, headers=headers, timeout=15).status == 200
        with lock:
            done[0] += ok

    threads = [threading.Thread(target=loop, args=(work[i :: args.concurrency],)) for i in range(args.concurrency)]
    started, cpu = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"deliveries": done[0], "expected": len(work), "seconds": seconds, "per_s": done[0] / seconds,
                      "cpu_us_per_delivery": cpu / max(1, done[0]) * 1e6}))


if __name__ == "__main__":
    main()
