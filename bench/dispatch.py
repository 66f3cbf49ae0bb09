"""Dispatch: deliveries/s of Dispatcher.handle vs Apprise vs the sink's raw capacity.

One fast sink process (bench/sink.py). Per round, side by side on the same sink:
  * raw capacity: bench/loadgen.py, closed loop, 16 keep-alive connections;
  * fluxnotify: bench/dispatch_worker.py — the Lambda handler's shape: batches of BATCH
    records through BatchRunner → Dispatcher.handle, generic provider, fan-out to
    PROVIDERS providers per event, pooled connections (urllib3), EMF metrics;
  * bare urllib3: bench/urllib3_worker.py — the same POSTs from BATCH threads sharing one
    PoolManager, nothing else (the ceiling of the client we use, at the same concurrency);
  * Apprise: bench/apprise_worker.py in bench/.venv-apprise (created with
    `pip install apprise` on first use) — the same number of `json://` notifications.
Rounds are repeated; medians and ratios are reported, with the peak RSS of each worker.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from common import BENCH, HOST, PYTHON, median, run_json, start_sink, stop

PROVIDERS = 4
EVENTS = 600
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
    return run_json([str(python), str(BENCH / script), "--sink-port", str(port),
                     "--providers", str(PROVIDERS), "--events", str(EVENTS), *extra])


def run(repeats: int = 3) -> dict:
    apprise = apprise_python()
    rounds: dict[str, list[dict]] = {"sink": [], "fluxnotify": [], "apprise": [], "urllib3": []}
    sink, port = start_sink()
    try:
        for _ in range(repeats):
            rounds["sink"].append(sink_capacity(port))
            rounds["fluxnotify"].append(worker(PYTHON, "dispatch_worker.py", port, "--batch", str(BATCH)))
            rounds["urllib3"].append(worker(PYTHON, "urllib3_worker.py", port, "--concurrency", str(BATCH)))
            if apprise is not None:
                rounds["apprise"].append(worker(apprise, "apprise_worker.py", port))
    finally:
        stop(sink)
    return summarize(rounds)


def summarize(rounds: dict[str, list[dict]]) -> dict:
    ours = rounds["fluxnotify"]
    flux_rate = median([r["per_s"] for r in ours])
    sink_rate = median([r["accepted_per_s"] for r in rounds["sink"]])
    out = {
        "providers": PROVIDERS, "events": EVENTS, "runs": len(ours),
        "fluxnotify_per_s": flux_rate, "sink_per_s": sink_rate,
        "fluxnotify_vs_sink": median([f["per_s"] / s["accepted_per_s"] for f, s in zip(ours, rounds["sink"], strict=False)]),
        "fluxnotify_peak_rss_mb": max(r["peak_rss_mb"] for r in ours),
        "fluxnotify_complete": all(r["deliveries"] == r["expected"] for r in ours),
        "batch": BATCH,
        "urllib3_per_s": median([r["per_s"] for r in rounds["urllib3"]]),
        "fluxnotify_vs_urllib3": median([f["per_s"] / u["per_s"] for f, u in zip(ours, rounds["urllib3"], strict=False)]),
        "fluxnotify_cpu_us": median([r["cpu_us_per_delivery"] for r in ours]),
        "urllib3_cpu_us": median([r["cpu_us_per_delivery"] for r in rounds["urllib3"]]),
    }
    # ratios are taken per round (each pair ran back to back on the same sink), then the median
    if rounds["apprise"]:
        theirs = rounds["apprise"]
        pairs = [f["per_s"] / a["per_s"] for f, a in zip(ours, theirs, strict=False)]
        out.update(apprise_per_s=median([r["per_s"] for r in theirs]), fluxnotify_vs_apprise=median(pairs),
                   apprise_peak_rss_mb=max(r["peak_rss_mb"] for r in theirs), apprise_version=theirs[0]["version"])
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(1), indent=2))
