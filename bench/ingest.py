"""Ingest: accepted events/s and latency of `fluxnotify serve` under a load generator.

`fluxnotify serve` runs as a subprocess on 127.0.0.1 with one generic Provider
pointing at the fast sink (bench/sink.py), duplicate suppression on (the default
300 s window: every request carries a distinct message, so none is a duplicate).
bench/loadgen.py (another process) posts the sample Kustomization event in a
closed loop at each concurrency level; each level is repeated and the medians of
accepted (202) events/s and p50/p99 latency are reported. The stack delivers to the
sink meanwhile, from its dispatcher process, as `serve` always does.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from common import (
    BENCH,
    HOST,
    PYTHON,
    event_template,
    flux_config,
    free_port,
    median,
    run_json,
    spawn,
    start_sink,
    stop,
    wait_for_port,
)

CONCURRENCY = (8, 32)
DURATION = 4.0


def start_serve(workdir: Path, sink_port: int, providers: int = 1, slack: bool = False, env=None):
    config = workdir / "flux.yaml"
    config.write_text(flux_config(sink_port, providers, slack))
    port = free_port()
    args = [PYTHON, "-m", "fluxnotify.ops.cli", "serve", "--config", str(config),
            "--db", str(workdir / "bench.db"), "--port", str(port)]
    process = spawn(args, env={"LOG_LEVEL": "WARNING", **(env or {})})
    wait_for_port(port)
    return process, port


def load(port: int, body: Path, concurrency: int, duration: float = DURATION, warmup: float = 1.0) -> dict:
    args = [PYTHON, str(BENCH / "loadgen.py"), "--url", f"http://{HOST}:{port}/", "--body", str(body),
            "--concurrency", str(concurrency), "--duration", str(duration), "--warmup", str(warmup)]
    return run_json(args)


def run(repeats: int = 3) -> dict:
    results: dict[int, list[dict]] = {c: [] for c in CONCURRENCY}
    with tempfile.TemporaryDirectory(prefix="fluxnotify-bench-") as tmp:
        workdir = Path(tmp)
        body = workdir / "event.json"
        body.write_text(event_template())
        sink, sink_port = start_sink()
        serve, port = start_serve(workdir, sink_port)
        try:
            for _ in range(repeats):
                for concurrency in CONCURRENCY:
                    results[concurrency].append(load(port, body, concurrency))
        finally:
            stop(serve)
            stop(sink)
    return {c: _medians(runs) for c, runs in results.items()}


def _medians(runs: list[dict]) -> dict:
    statuses: dict[str, int] = {}
    for r in runs:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "events_per_s": median([r["accepted_per_s"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "statuses": statuses,
        "errors": sum(r["errors"] for r in runs),
        "runs": len(runs),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(1), indent=2))
