"""End to end: latency from POST to the sink receiving the delivery, at a steady 200 events/s.

`fluxnotify serve` (subprocess) routes every event to a generic and a slack
Provider, both at the recording sink (bench/sink.py --record). bench/loadgen.py
posts distinct events in an open loop at RATE/s for DURATION s; it reports the
scheduled send time of each event number, the sink the time each delivery with
that number arrived (both CLOCK_MONOTONIC, shared by all processes on Linux).
Latency per delivery = arrival − scheduled send. Repeated; medians of p50/p99.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common import (
    BENCH,
    HOST,
    PYTHON,
    event_template,
    median,
    percentile,
    run_json,
    sink_stats,
    start_sink,
    stop,
)
from ingest import start_serve

RATE = 200
DURATION = 8.0
PROVIDERS = 2  # generic + slack


def one_run(workdir: Path) -> dict:
    body = workdir / "event.json"
    body.write_text(event_template())
    sink, sink_port = start_sink(record=True)
    serve, port = start_serve(workdir, sink_port, providers=1, slack=True)
    try:
        sent = run_json([PYTHON, str(BENCH / "loadgen.py"), "--url", f"http://{HOST}:{port}/",
                         "--body", str(body), "--rate", str(RATE), "--duration", str(DURATION),
                         "--concurrency", "32", "--send-times"])
        expected = len(sent["sends"]) * PROVIDERS
        deadline = time.monotonic() + 15
        while sink_stats(sink_port)["count"] < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        records = sink_stats(sink_port)["records"]
    finally:
        stop(serve)
        stop(sink)
    send_time = dict(sent["sends"])
    latencies = [(arrived - send_time[n]) * 1000 for n, arrived in records if n in send_time]
    return {"p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
            "delivered": len(latencies), "expected": expected, "statuses": sent["statuses"]}


def run(repeats: int = 3) -> dict:
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="fluxnotify-bench-") as tmp:
            runs.append(one_run(Path(tmp)))
    return {
        "rate": RATE, "duration_s": DURATION, "runs": len(runs),
        "p50_ms": median([r["p50_ms"] for r in runs]), "p99_ms": median([r["p99_ms"] for r in runs]),
        "delivered": sum(r["delivered"] for r in runs), "expected": sum(r["expected"] for r in runs),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(1), indent=2))
