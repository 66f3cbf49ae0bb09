"""Status through `fluxnotify serve` (a real subprocess, SQLite): a good and a failing
Provider; then `fluxnotify status --db`, /status.json and the replay POST with its CSRF token."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import fixtures.status.status_fixtures as fx
import pytest

from httpsink import HttpSink

ROOT = Path(__file__).resolve().parents[2]

FLUXNOTIFY = [sys.executable, "-m", "fluxnotify.ops.cli"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "notify"), "LOG_LEVEL": "WARNING"}


def wait_for(condition, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def get(url: str, headers: dict | None = None) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def post(url: str, data: bytes, headers: dict | None = None) -> tuple[int, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """serve with both Providers; two events delivered (good) and dead-lettered (bad)."""
    tmp = tmp_path_factory.mktemp("status-serve")
    with HttpSink() as sink:
        sink.handler = fx.answer
        config = tmp / "config.yaml"
        config.write_text(fx.manifests(sink.url))
        db = tmp / "q.db"
        process = subprocess.Popen(
            [*FLUXNOTIFY, "serve", "--config", str(config), "--db", str(db), "--port", "0",
             "--status-addr", "127.0.0.1:0"], env=ENV, stderr=subprocess.PIPE, text=True)
        try:
            urls = {}
            for line in process.stderr:
                found = re.search(r"(receiving Flux events|status page) on (http://[\d.:]+)/", line)
                if found:
                    urls[found.group(1)] = found.group(2)
                if len(urls) == 2:
                    break
            assert len(urls) == 2, "serve did not start"
            receiver, page = urls["receiving Flux events"], urls["status page"]
            for text in ("first", "second"):
                status, _ = post(receiver + "/", json.dumps({**fx.event(), "message": text}).encode())
                assert status == 202
            wait_for(lambda: len(sink.requests) == 4, "four deliveries")
            wait_for(lambda: json.loads(get(page + "/status.json")[1])["queue"]["deadLetters"] == 2, "2 letters")
            yield {"sink": sink, "db": db, "page": page}
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_status_command_reads_the_serve_database(served):
    shown = subprocess.run([*FLUXNOTIFY, "status", "--db", str(served["db"])], env={**ENV, "NO_COLOR": ""},
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split()[:5] == ["KIND", "NAME", "TYPE", "LAST", "ATTEMPT"]
    good = next(line for line in lines if line.startswith("Provider  flux-system/good "))
    bad = next(line for line in lines if line.startswith("Provider  flux-system/bad "))
    assert " delivered " in good and "2/0/0" in good and "Kustomization/flux-system/apps" in good
    assert "dead-lettered" in bad and "0/0/2" in bad and bad.endswith(fx.BAD_ERROR)
    assert lines[-1] == "queue: empty; dead letters: 2"

    as_json = subprocess.run([*FLUXNOTIFY, "status", "--db", str(served["db"]), "-o", "json"], env=ENV,
                             capture_output=True, text=True, timeout=30)
    snapshot = json.loads(as_json.stdout)
    objects = {(o["kind"], o["name"]): o for o in snapshot["objects"]}
    assert objects[("Alert", "flux-system/good-alert")]["lastHour"]["delivered"] == 2
    assert objects[("Alert", "flux-system/bad-alert")]["last24h"]["dead-lettered"] == 2
    assert [letter["provider"] for letter in snapshot["deadLetters"]] == ["flux-system/bad"] * 2


def test_status_command_refuses_a_missing_database(tmp_path):
    shown = subprocess.run([*FLUXNOTIFY, "status", "--db", str(tmp_path / "nope.db")], env=ENV,
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 2
    assert "nope.db: no such local stack database" in shown.stderr and "Traceback" not in shown.stderr


def test_status_json_has_the_last_deliveries(served):
    status, body = get(served["page"] + "/status.json")
    assert status == 200
    recent = json.loads(body)["recent"]
    assert len(recent) == 4 and {r["provider"] for r in recent} == {"flux-system/good", "flux-system/bad"}


def test_replay_needs_the_csrf_token_and_the_right_host(served):
    page = served["page"]
    letter = json.loads(get(page + "/status.json")[1])["deadLetters"][0]["id"]
    form = f"id={letter}".encode()
    assert post(page + "/replay", form)[0] == 403
    assert post(page + "/replay", form + b"&csrf=wrong")[0] == 403
    html = get(page + "/")[1]
    token = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    rebound = post(page + "/replay", form + f"&csrf={token}".encode(), {"Host": "evil.example:80"})
    assert rebound[0] == 421
    assert post(page + "/replay", f"id=unknown&csrf={token}".encode())[0] == 404
    assert post(page + "/nope", b"")[0] == 404
    status, _ = get(page + "/", {"Host": "attacker.test"})
    assert status == 421
    letters = json.loads(get(page + "/status.json")[1])["deadLetters"]
    assert letter in [item["id"] for item in letters]  # none of the refused requests moved it
