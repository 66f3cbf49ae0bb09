"""Run every benchmark and write BENCHMARKS.md at the repo root (`make bench`).

Benchmarks measure; they never fail: a benchmark that breaks is reported as an
error in the table and the others still run. Each figure with a comparison is
measured side by side in the same run, repeated, and reported as medians/ratios.

    .venv/bin/python bench/run.py [cold_start ingest dispatch lambda_batch e2e size cost] [--repeats N]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cold_start  # noqa: E402
import cost  # noqa: E402
import dispatch  # noqa: E402
import e2e  # noqa: E402
import ingest  # noqa: E402
import lambda_batch  # noqa: E402
import size  # noqa: E402
from common import ROOT  # noqa: E402
from report import render  # noqa: E402

BENCHMARKS: dict[str, Callable[[int], dict]] = {
    "cold_start": lambda n: cold_start.run(3 * n),
    "ingest": ingest.run,
    "dispatch": dispatch.run,
    "lambda_batch": lambda_batch.run,
    "e2e": e2e.run,
    "size": lambda n: size.run(),
    "cost": cost.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    started = time.monotonic()
    results = {name: measure(name, args.repeats) for name in args.names or BENCHMARKS}
    machine = {
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "repeats": args.repeats, "minutes": (time.monotonic() - started) / 60,
    }
    with open(args.output, "w", encoding="utf-8") as out:
        out.write(render(results, machine))
    print(f"[bench] wrote {args.output} ({machine['minutes']:.1f} min)", flush=True)
    return 0


def measure(name: str, repeats: int) -> dict:
    print(f"[bench] {name} …", flush=True)
    started = time.monotonic()
    try:
        result = BENCHMARKS[name](repeats)
    except Exception as err:  # a benchmark never fails the run
        traceback.print_exc()
        result = {"error": f"{type(err).__name__}: {err}"}
    print(f"[bench] {name} done in {time.monotonic() - started:.0f} s: {headline(name, result)}", flush=True)
    return result


def headline(name: str, result: dict) -> str:
    if "error" in result:
        return "ERROR " + result["error"]
    match name:
        case "cold_start":
            return f"receiver {result['receiver_vs_boto3']:.2f}× boto3, dispatcher {result['dispatcher_vs_boto3']:.2f}×"
        case "ingest":
            return ", ".join(f"c={c}: {r['events_per_s']:.0f} accepted/s, {r.get('delivered_per_s', 0):.0f} delivered/s, "
                             f"backlog {r.get('max_backlog_s', 0):.1f} s, p99 {r['p99_ms']:.1f} ms" for c, r in result.items())
        case "dispatch":
            apprise = f"{result['fluxnotify_vs_apprise']:.1f}× apprise, " if "fluxnotify_vs_apprise" in result else ""
            return (f"{result['fluxnotify_per_s']:.0f}/s, {result['fluxnotify_vs_urllib3']:.2f}× urllib3, {apprise}"
                    f"{result['fluxnotify_vs_sink']:.0%} of sink")
        case "lambda_batch":
            return f"{result['batch_ms']:.0f} ms = {result['ratio']:.2f}× one provider latency"
        case "e2e":
            return f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
        case "cost":
            return f"A ${result['A']['total']:,.2f}, B ${result['B']['total']:,.0f} a month"
        case "size":
            return f"{result['zipped_mb']:.1f} MB zipped" if result.get("built") else result["note"]
    return "ok"


if __name__ == "__main__":
    sys.exit(main())
