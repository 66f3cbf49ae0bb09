"""Dispatch: deliveries/s through the Lambda handler vs bare urllib3 vs Apprise vs the sink.

One fast sink process (bench/sink.py). Per round, side by side on the same sink:
  * raw capacity: bench/loadgen.py, closed loop, 16 keep-alive connections;
  * fluxnotify: bench/dispatch_worker.py — functions/dispatcher/app.py's lambda_handler as
    deployed (Powertools Logger at INFO, EMF metrics, SQS batches of BATCH records, its
    BatchRunner and Dispatcher), EVENTS distinct events × PROVIDERS generic Providers;
  * bare urllib3: bench/urllib3_worker.py — the same POSTs (the event's JSON to the same
    paths of the same sink) from BATCH threads sharing one PoolManager, nothing else (the
    ceiling of the client we use, at the same concurrency);
  * Apprise: bench/apprise_worker.py in bench/.venv-apprise (created with
    `pip install apprise` on first use) — the same number of `json://` notifications,
    notify() called from BATCH threads (it sends one call's notifications in parallel).
The workers run one after another, in an order that alternates between rounds (the machine
is shared: what else runs weighs on whoever runs then); each round records the load
average beside its figures. Ratios are taken per round, then the median; the CPU time per
delivery of each is reported too. When a target is missed, the worker runs once more under
cProfile and its top functions are part of the result (``profile``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import BENCH, HOST, PYTHON, median, run_json, start_sink, stop

PROVIDERS = 4
EVENTS = 600
URLLIB3_TARGET, APPRISE_TARGET = 0.85, 3.5
BATCH = 10  # records of an SQS batch handled at once
APPRISE_VENV = BENCH / ".venv-apprise"


def apprise_python() -> Path | None:
    """The Apprise venv's interpreter, created on first use; None when pip cannot install it."""
    python = APPRISE_VENV / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import apprise"], capture_output=True).returncode == 0:
        return python
    try:
        subprocess.run([sys.executable, "-m", "venv", APPRISE_VENV], check=True, capture_output=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "apprise"],
                       check=True, capture_output=True, timeout=240)
    except (subprocess.SubprocessError, OSError) as err:
        print(f"  apprise could not be installed: {err}", flush=True)
        return None
    return python


def sink_capacity(port: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json") as body:
        body.write('{"text": "raw"}')
        body.flush()
        return run_json([PYTHON, str(BENCH / "loadgen.py"), "--url", f"http://{HOST}:{port}/raw",
                         "--body", body.name, "--concurrency", "16", "--duration", "2", "--warmup", "0.5"])


def worker(python: Path | str, script: str, port: int, *extra: str) -> dict:
    result = run_json([str(python), str(BENCH / script), "--sink-port", str(port),
                       "--providers", str(PROVIDERS), "--events", str(EVENTS), *extra])
    result["load"] = os.getloadavg()[0]  # the machine's other work meanwhile (1-minute average)
    return result


def run(repeats: int = 3) -> dict:
    apprise = apprise_python()
    rounds: dict[str, list[dict]] = {"sink": [], "fluxnotify": [], "apprise": [], "urllib3": []}
    jobs = {
        "fluxnotify": lambda port: worker(PYTHON, "dispatch_worker.py", port, "--batch", str(BATCH)),
        "urllib3": lambda port: worker(PYTHON, "urllib3_worker.py", port, "--concurrency", str(BATCH)),
    }
    if apprise is not None:
        jobs["apprise"] = lambda port: worker(apprise, "apprise_worker.py", port, "--concurrency", str(BATCH))
    sink, port = start_sink()
    try:
        for number in range(repeats):
            rounds["sink"].append(sink_capacity(port))
            for name in list(jobs)[:: 1 if number % 2 == 0 else -1]:
                rounds[name].append(jobs[name](port))
        out = summarize(rounds)
        if out["fluxnotify_vs_urllib3"] < URLLIB3_TARGET or out.get("fluxnotify_vs_apprise", 99) < APPRISE_TARGET:
            profiled = worker(PYTHON, "dispatch_worker.py", port, "--batch", str(BATCH), "--profile")
            out["profile"] = profiled["profile"][:PROFILE_ROWS]
    finally:
        stop(sink)
    return out


PROFILE_ROWS = 25


def summarize(rounds: dict[str, list[dict]]) -> dict:
    ours, bare = rounds["fluxnotify"], rounds["urllib3"]
    out = {
        "providers": PROVIDERS, "events": EVENTS, "runs": len(ours), "batch": BATCH,
        "fluxnotify_per_s": median([r["per_s"] for r in ours]),
        "sink_per_s": median([r["accepted_per_s"] for r in rounds["sink"]]),
        "fluxnotify_vs_sink": median([f["per_s"] / s["accepted_per_s"] for f, s in zip(ours, rounds["sink"], strict=False)]),
        "fluxnotify_peak_rss_mb": max(r["peak_rss_mb"] for r in ours),
        "fluxnotify_complete": all(r["deliveries"] == r["expected"] and not r["left_to_sqs"] for r in ours),
        "urllib3_per_s": median([r["per_s"] for r in bare]),
        # ratios per round (each pair ran back to back on the same sink), then the median
        "fluxnotify_vs_urllib3": median([f["per_s"] / u["per_s"] for f, u in zip(ours, bare, strict=False)]),
        "fluxnotify_cpu_us": median([r["cpu_us_per_delivery"] for r in ours]),
        "urllib3_cpu_us": median([r["cpu_us_per_delivery"] for r in bare]),
        "cpu_ratio": median([u["cpu_us_per_delivery"] / f["cpu_us_per_delivery"] for f, u in zip(ours, bare, strict=False)]),
        "load": [round(r["load"], 2) for r in ours + bare + rounds["apprise"]],
    }
    if rounds["apprise"]:
        theirs = rounds["apprise"]
        pairs = [f["per_s"] / a["per_s"] for f, a in zip(ours, theirs, strict=False)]
        out.update(apprise_per_s=median([r["per_s"] for r in theirs]), fluxnotify_vs_apprise=median(pairs),
                   apprise_peak_rss_mb=max(r["peak_rss_mb"] for r in theirs), apprise_version=theirs[0]["version"],
                   apprise_cpu_us=median([r["cpu_us_per_delivery"] for r in theirs]))
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(1), indent=2))
