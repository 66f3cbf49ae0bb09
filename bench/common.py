"""Shared helpers for the benchmarks: paths, statistics, ports, child processes, configs."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = sys.executable  # the project venv's interpreter (make bench runs .venv/bin/python)
SAMPLE_EVENT = ROOT / "events" / "bodies" / "kustomization-reconciled.json"
HOST = "127.0.0.1"
MARKER = "@@N@@"  # replaced by the request number: every event is distinct (dedup stays on)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for an empty list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {HOST}:{port} after {timeout} s")


def spawn(args: list[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """A child process with quiet output, in the repo root."""
    return subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_json(args: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """Run a bench helper that prints one JSON object on its last stdout line."""
    done = subprocess.run(
        args, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])}… failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_sink(record: bool = False) -> tuple[subprocess.Popen, int]:
    port = free_port()
    args = [PYTHON, str(BENCH / "sink.py"), "--port", str(port)] + (["--record"] if record else [])
    process = spawn(args)
    wait_for_port(port)
    return process, port


def sink_stats(port: int) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"http://{HOST}:{port}/__stats", timeout=10) as answer:
        return json.loads(answer.read())


def flux_config(sink_port: int, providers: int = 1, slack: bool = False) -> str:
    """Flux YAML: `providers` generic Providers (+ optionally one slack) at the sink, one Alert each."""
    docs = []
    names = [f"generic-{i}" for i in range(providers)]
    for name in names:
        docs.append(_provider(name, f"type: generic\n  address: http://{HOST}:{sink_port}/{name}"))
    if slack:
        names.append("slack")
        docs.append(_provider("slack", f"type: slack\n  channel: bench\n  address: http://{HOST}:{sink_port}/slack"))
    for name in names:
        docs.append(_alert(name))
    return "---\n".join(docs)


def _provider(name: str, spec: str) -> str:
    return (
        "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\n"
        f"metadata:\n  name: {name}\n  namespace: flux-system\nspec:\n  {spec}\n"
    )


def _alert(provider: str) -> str:
    return (
        "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Alert\n"
        f"metadata:\n  name: to-{provider}\n  namespace: flux-system\n"
        f"spec:\n  providerRef:\n    name: {provider}\n  eventSeverity: info\n"
        "  eventSources:\n    - kind: Kustomization\n      name: '*'\n"
    )


def event_template() -> str:
    """The sample Kustomization event with MARKER in its message, replaced per request by a number."""
    event = json.loads(SAMPLE_EVENT.read_text())
    event["message"] = event["message"] + f"\nbench-id:{MARKER};"
    return json.dumps(event)
