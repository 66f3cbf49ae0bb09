"""Ingest: accepted and delivered events/s, backlog and latency of `fluxnotify serve` under wrk.

`fluxnotify serve` runs as a subprocess on 127.0.0.1 with one generic Provider
pointing at the fast sink (bench/sink.py), duplicate suppression on (the default
300 s window: every request carries a distinct message, so none is a duplicate).
wrk (Debian's package; bench installs it when absent and it can, else it falls back to
bench/loadgen.py) posts the sample Kustomization event in a closed loop at each
concurrency level (bench/wrk_post.lua); each level is repeated and the medians of
accepted (202) events/s and p50/p99 latency are reported. The stack delivers to the
sink meanwhile, from its dispatcher process, as `serve` always does; over the same run
bench/backlog.py counts what was accepted (serve's dedup rows) and delivered (the sink's
arrivals) every 100 ms: delivered/s, the largest backlog (in seconds of load) and the time
to deliver everything after the load stops. Each run starts with an empty queue.

Also reported: how the CPU time split between serve's receiver process, its dispatcher
process and the sink (% of one core during the load; µs per accepted event over the load and
the drain), the machine's load average before and after, the peak resident memory of serve
and its dispatcher together, and, when the concurrency-8 target is missed, py-spy's profile
of the receiver and the dispatcher during one more run (bench/pyspy.py).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from backlog import Backlog
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
from report import ingest_met

CONCURRENCY = (8, 32)
DURATION = 8.0  # seconds of load per run: long enough for a growing backlog to show
TICKS = os.sysconf("SC_CLK_TCK")
_OFFSETS = itertools.count(10**12, 10**10)  # each wrk run numbers its events from its own offset


def start_serve(workdir: Path, sink_port: int, providers: int = 1, slack: bool = False, env=None):
    config = workdir / "flux.yaml"
    config.write_text(flux_config(sink_port, providers, slack))
    port = free_port()
    args = [PYTHON, "-m", "fluxnotify.ops.cli", "serve", "--config", str(config),
            "--db", str(workdir / "bench.db"), "--port", str(port)]
    process = spawn(args, env={"LOG_LEVEL": "WARNING", **(env or {})})
    wait_for_port(port)
    _wait_healthy(port)
    return process, port


def _wait_healthy(port: int, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)


def wrk_binary() -> str | None:
    """wrk from PATH, else installed from Debian's packages when we are root; None otherwise."""
    found = shutil.which("wrk")
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], env=env, **quiet).returncode:
        subprocess.run(["apt-get", "update", "-qq"], env=env, **quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], env=env, **quiet)
    return shutil.which("wrk")


def load(port: int, body: Path, concurrency: int, duration: float = DURATION, warmup: float = 1.0) -> dict:
    wrk = wrk_binary()
    if wrk is None:
        args = [PYTHON, str(BENCH / "loadgen.py"), "--url", f"http://{HOST}:{port}/", "--body", str(body),
                "--concurrency", str(concurrency), "--duration", str(duration), "--warmup", str(warmup)]
        return {**run_json(args), "generator": "bench/loadgen.py (wrk not available)"}
    url = f"http://{HOST}:{port}/"
    threads = str(min(2, concurrency))
    script = str(BENCH / "wrk_post.lua")
    if warmup:
        subprocess.run([wrk, "-t", threads, "-c", str(concurrency), "-d", f"{max(1, round(warmup))}s", "-s", script,
                        url, "--", str(body), str(next(_OFFSETS))], capture_output=True, timeout=60)
    result = run_json([wrk, "-t", threads, "-c", str(concurrency), "-d", f"{max(1, round(duration))}s",
                       "--timeout", "5s", "-s", script, url, "--", str(body), str(next(_OFFSETS))])
    accepted = result["statuses"].get("202", 0)
    result["statuses"] = {str(k): v for k, v in result["statuses"].items()}
    return {**result, "accepted_per_s": accepted / result["seconds"], "generator": "wrk"}


class Usage:
    """CPU seconds per process group and the peak RSS of serve + its dispatcher, sampled."""

    def __init__(self, serve_pid: int, others: dict[str, int]):
        self.serve_pid = serve_pid
        self.others = others
        self.peak_rss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> Usage:
        self.started = time.monotonic()
        self.cpu_before = self.cpu()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.seconds = time.monotonic() - self.started
        after = self.cpu()
        self.split = {name: round(100 * (after[name] - self.cpu_before.get(name, 0.0)) / self.seconds, 1)
                      for name in after}

    def cpu(self) -> dict[str, float]:
        dispatcher = _children(self.serve_pid)
        values = {"receiver (serve)": _cpu(self.serve_pid), "dispatcher": sum(_cpu(p) for p in dispatcher)}
        values.update({name: _cpu(pid) for name, pid in self.others.items()})
        return values

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            pids = [self.serve_pid, *_children(self.serve_pid)]
            self.peak_rss_mb = max(self.peak_rss_mb, sum(_rss_mb(p) for p in pids))


def _children_cpu() -> float:
    """CPU seconds of this process's exited children (the load generator's runs)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:
            pass
    return found


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run(repeats: int = 3, duration: float = DURATION) -> dict:
    results: dict[int, list[dict]] = {c: [] for c in CONCURRENCY}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="fluxnotify-bench-") as tmp:
        workdir = Path(tmp)
        body = workdir / "event.json"
        body.write_text(event_template())
        sink, sink_port = start_sink()
        serve, port = start_serve(workdir, sink_port)
        try:
            for _ in range(repeats):
                for concurrency in CONCURRENCY:
                    results[concurrency].append(_one(serve.pid, sink, sink_port, workdir, port, body,
                                                     concurrency, duration))
            summary = {c: _medians(runs) for c, runs in results.items()}
            if not ingest_met(summary[CONCURRENCY[0]]):
                summary[CONCURRENCY[0]]["profile"] = _profile(serve.pid, port, body, CONCURRENCY[0])
        finally:
            stop(serve)
            stop(sink)
    for m in summary.values():
        m["loadavg_before"], m["loadavg_after"] = load_before, os.getloadavg()
    return summary


def _one(serve_pid, sink, sink_port, workdir, port, body, concurrency, duration) -> dict:
    """One measured run after a warm-up; the queue is drained before it starts."""
    load(port, body, concurrency, duration=1.0, warmup=0)
    with Backlog(workdir / "bench.db", sink_port) as backlog, Usage(serve_pid, {"sink": sink.pid}) as usage:
        children = _children_cpu()
        outcome = load(port, body, concurrency, duration=duration, warmup=0)
        generator = _children_cpu() - children  # wrk (or loadgen.py), once it has exited
    backlog.drain()
    backlog.close()
    # CPU per accepted event: over the load and the drain after it (the dispatcher's share comes late).
    spent = {name: seconds - usage.cpu_before.get(name, 0.0) for name, seconds in usage.cpu().items()}
    spent["load generator"] = generator
    usage.split["load generator"] = round(100 * generator / usage.seconds, 1)
    per_event = {name: round(1e6 * seconds / backlog.accepted) if backlog.accepted else None
                 for name, seconds in spent.items()}
    return {**outcome, **backlog.summary(), "cpu_percent": usage.split, "cpu_us_per_event": per_event,
            "peak_rss_mb": usage.peak_rss_mb}


def _profile(serve_pid: int, port: int, body: Path, concurrency: int, seconds: float = 3.0) -> dict:
    """py-spy on the receiver and on the dispatcher process during one more run at `concurrency`."""
    import pyspy

    children = _children(serve_pid)
    started = {"receiver": pyspy.start(serve_pid, seconds)}
    if children:
        started["dispatcher"] = pyspy.start(children[0], seconds)
    load(port, body, concurrency, duration=seconds + 1, warmup=0)
    return {name: pyspy.finish(handle) for name, handle in started.items()}


def _medians(runs: list[dict]) -> dict:
    statuses: dict[str, int] = {}
    for r in runs:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    names = runs[0]["cpu_percent"]
    drains = [r["drain_s"] for r in runs]
    return {
        "events_per_s": median([r["accepted_per_s"] for r in runs]),
        "delivered_per_s": median([r["delivered_per_s"] for r in runs]),
        "max_backlog": max(r["max_backlog"] for r in runs),
        "max_backlog_s": max(r["max_backlog_s"] for r in runs),
        "drain_s": None if None in drains else max(drains),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "statuses": statuses,
        "errors": sum(r["errors"] for r in runs),
        "runs": len(runs),
        "generator": runs[0]["generator"],
        "cpu_percent": {name: median([r["cpu_percent"][name] for r in runs]) for name in names},
        "cpu_us_per_event": {name: median([r["cpu_us_per_event"][name] or 0 for r in runs]) for name in names},
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(1, float(sys.argv[1]) if len(sys.argv) > 1 else DURATION), indent=2))
