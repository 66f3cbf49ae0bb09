"""`fluxnotify serve` as a subprocess on port 0: its address and every stderr line it prints.

    with Serve(["-f", config, "--db", db]) as serve:
        post(serve.url + "/", body)
        serve.wait_line(r"configuration reloaded")
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLUXNOTIFY = [sys.executable, "-m", "fluxnotify.ops.cli"]
ENV = {**os.environ, "FLUXNOTIFY_LOG_FORMAT": "json",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "layers" / "notify"), os.environ.get("PYTHONPATH")]))}
RECEIVING = re.compile(r"receiving Flux events on (http://[\d.:]+)/")


def run_serve(args: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
    """A serve expected to refuse: its exit status and output."""
    return subprocess.run([*FLUXNOTIFY, "serve", *args], env=ENV, capture_output=True, text=True, timeout=timeout)


class Serve:
    def __init__(self, args: list[str], env: dict | None = None, port: int = 0):
        self.lines: list[str] = []
        self._eof = False
        self._arrived = threading.Condition()
        self.process = subprocess.Popen([*FLUXNOTIFY, "serve", "--port", str(port), *args], env={**ENV, **(env or {})},
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        found = self.wait_line(RECEIVING.pattern, timeout=30)
        self.url = RECEIVING.search(found).group(1)
        self.port = int(self.url.rsplit(":", 1)[1])

    def _read(self) -> None:
        for line in self.process.stderr:
            with self._arrived:
                self.lines.append(line.rstrip("\n"))
                self._arrived.notify_all()
        with self._arrived:
            self._eof = True
            self._arrived.notify_all()

    def wait_line(self, pattern: str, timeout: float = 15, after: int = 0) -> str:
        """The first stderr line (from index ``after``) that matches; AssertionError otherwise."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                for line in self.lines[after:]:
                    if regex.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))
                self._arrived.wait(min(left, 0.2))

    def matching(self, pattern: str) -> list[str]:
        with self._arrived:
            return [line for line in self.lines if re.search(pattern, line)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def get(url: str, headers: dict | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def event(kind: str = "Kustomization", name: str = "apps", namespace: str = "flux-system",
          message: str = "Reconciliation finished", severity: str = "info") -> bytes:
    return json.dumps({
        "involvedObject": {"kind": kind, "namespace": namespace, "name": name,
                           "apiVersion": "kustomize.toolkit.fluxcd.io/v1"},
        "severity": severity, "timestamp": "2024-05-01T10:00:00Z", "message": message,
        "reason": "ReconciliationSucceeded", "reportingController": "kustomize-controller",
        "metadata": {"revision": "main@sha1:abc"},
    }).encode()


def provider(name: str, address: str, kind: str = "generic") -> str:
    return f"""---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: {name}, namespace: flux-system}}
spec: {{type: {kind}, address: "{address}"}}
"""


def alert(name: str, provider_name: str, kind: str = "Kustomization") -> str:
    return f"""---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: {name}, namespace: flux-system}}
spec:
  providerRef: {{name: {provider_name}}}
  eventSources: [{{kind: {kind}, name: "*"}}]
"""
