"""Apprise worker (child process of bench/dispatch.py, runs in bench/.venv-apprise).

The same work as bench/dispatch_worker.py with Apprise: N `json://` URLs at the
sink, M notify() calls (one per event, distinct bodies), so M×N JSON
notifications. One warm-up notify() first. Prints notifications/s and peak RSS.

    bench/.venv-apprise/bin/python bench/apprise_worker.py --sink-port P --providers 4 --events 500
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import apprise
from dispatch_worker import peak_rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sink-port", type=int, required=True)
    parser.add_argument("--providers", type=int, default=4)
    parser.add_argument("--events", type=int, default=500)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    notifier = apprise.Apprise()
    for i in range(args.providers):
        notifier.add(f"json://127.0.0.1:{args.sink_port}/apprise-{i}")
    notifier.notify(body="warm-up", title="bench")
    started = time.perf_counter()
    sent = 0
    for n in range(args.events):
        if notifier.notify(body=f"Deployment/apps/podinfo configured\nbench-id:{n};", title="Kustomization/apps"):
            sent += args.providers
    seconds = time.perf_counter() - started
    print(json.dumps({"deliveries": sent, "expected": args.events * args.providers, "seconds": seconds,
                      "per_s": sent / seconds, "peak_rss_mb": peak_rss_mb(), "version": apprise.__version__}))


if __name__ == "__main__":
    main()
