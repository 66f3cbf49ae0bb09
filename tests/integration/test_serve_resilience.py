"""`fluxnotify serve` under trouble, as a real process (issue 13.2–13.4, issue 12.8).

* a store locked by another program for longer than any lock timeout: every event answered
  202 is delivered once the lock is released; /healthz says 503 meanwhile;
* a dispatcher child that dies is restarted, /healthz tells;
* kill -9 of serve at once after start (the child still starting, or just ready): no child left;
* the database deleted under serve: 503 and one log line; unusable databases and busy ports
  at start-up: one line naming the problem, exit status non-zero, no traceback;
* SIGINT (also when started as a background job, SIGINT ignored), SIGTERM and a terminal's
  Ctrl-C to the process group stop serve and its dispatcher without a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_serve import FLUXNOTIFY, ROOT, free_port, manifests, start

BODY = (ROOT / "events" / "bodies" / "kustomization-reconciled.json").read_bytes()
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "notify"), "LOG_LEVEL": "WARNING"}


def event(i: int) -> bytes:
    data = json.loads(BODY)
    data["message"] = f"event-{i}"
    return json.dumps(data).encode()


def request(url: str, body: bytes | None = None, timeout: float = 10) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(predicate, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=20)
    return err.decode()


@pytest.fixture
def config(tmp_path, sink):
    path = tmp_path / "flux.yaml"
    path.write_text(manifests(sink.url))
    return path


def test_external_write_lock_delays_but_loses_nothing(tmp_path, config, sink):
    # A slow provider: deliveries are still in flight (4 s of them) when the lock is taken.
    sink.handler = lambda r: (time.sleep(0.2), (200, {}, b""))[1]
    db, port = tmp_path / "q.db", free_port()
    process = start(config, db, port, "--workers", "2")
    url = f"http://127.0.0.1:{port}"
    try:
        accepted = {f"event-{i}" for i in range(40) if request(f"{url}/", event(i))[0] == 202}
        assert len(accepted) == 40
        locker = sqlite3.connect(db, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # longer than every lock timeout of serve (5 s)
        locked_at = time.monotonic()
        status, report = request(f"{url}/healthz")
        assert status == 503 and "locked" in report["store"]
        status, answer = request(f"{url}/", event(999))
        assert status == 503 and answer["status"] == 503  # not a 202 that could be lost
        time.sleep(max(0.0, 7 - (time.monotonic() - locked_at)))
        locker.execute("ROLLBACK")
        locker.close()
        late = {f"event-{i}" for i in range(40, 50) if request(f"{url}/", event(i))[0] == 202}
        assert len(late) == 10
        expected = accepted | late
        assert wait_until(lambda: {r.json()["message"] for r in sink.requests} >= expected, timeout=60)
        assert wait_until(lambda: request(f"{url}/healthz")[1]["queue_depth"] == 0)
        status, report = request(f"{url}/healthz")
        assert status == 200, report
        assert report["dispatcher"] == "alive" and report["dead_letters"] == 0
        assert "event-999" not in {r.json()["message"] for r in sink.requests}
    finally:
        err = stop(process)
    assert "Traceback" not in err


def test_dead_dispatcher_is_noticed_and_restarted(tmp_path, config, sink):
    port = free_port()
    process = start(config, tmp_path / "q.db", port)
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: request(f"{url}/healthz")[0] == 200)
        status, report = request(f"{url}/healthz")
        assert report == {"status": "ok", "dispatcher": "alive", "store": "writable", "queue_depth": 0,
                          "dead_letters": 0, "oldest_pending_age_s": None}
        (child,) = [pid for pid in descendants(process.pid) if _is_worker(pid)]
        os.kill(child, signal.SIGKILL)
        assert wait_until(lambda: request(f"{url}/healthz")[1]["dispatcher"] == "dead", timeout=10)
        assert request(f"{url}/healthz")[0] == 503
        assert wait_until(lambda: request(f"{url}/healthz")[0] == 200, timeout=20)
        assert request(f"{url}/", event(1))[0] == 202
        assert len(sink.wait_for(1, timeout=10)) == 1
    finally:
        err = stop(process)
    assert "dispatcher process exited (code -9); restarting it" in err


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _is_worker(pid: int) -> bool:
    """The dispatcher child of serve."""
    return b"fluxnotify.ops.dispatchproc" in _cmdline(pid)


@pytest.mark.parametrize("moment", ["child starting", "child ready"])
def test_kill_9_of_serve_at_start_leaves_no_dispatcher(tmp_path, config, moment):
    process = subprocess.Popen([*FLUXNOTIFY, "serve", "--config", str(config), "--db", str(tmp_path / "q.db"),
                                "--port", str(free_port())], env=ENV, stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: any(_is_worker(p) for p in descendants(process.pid)), timeout=20)
        if moment == "child ready":
            assert wait_until(lambda: b"receiving Flux events" in _peek(process), timeout=20)
        children = descendants(process.pid)
    finally:
        process.kill()
        process.wait()
    assert children
    assert wait_until(lambda: not any(alive(pid) for pid in children), timeout=10), \
        f"left behind: {[p for p in children if alive(p)]}"


def _peek(process) -> bytes:
    """What serve printed so far (non-blocking)."""
    os.set_blocking(process.stderr.fileno(), False)
    chunk = process.stderr.read() or b""
    process._seen = getattr(process, "_seen", b"") + chunk
    return process._seen


def test_database_deleted_under_serve_is_refused_with_one_log_line(tmp_path, config, sink):
    db, port = tmp_path / "q.db", free_port()
    process = start(config, db, port)
    url = f"http://127.0.0.1:{port}"
    try:
        assert request(f"{url}/", event(1))[0] == 202
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        for i in range(2, 5):
            status, answer = request(f"{url}/", event(i))
            assert status == 503 and "gone" in answer["error"]
        status, report = request(f"{url}/healthz")
        assert status == 503 and "deleted" in report["store"]
        assert not db.exists()  # healthz did not create an empty one
    finally:
        err = stop(process)
    lines = [line for line in err.splitlines() if "refusing events with 503" in line]
    assert len(lines) == 1 and str(db) in lines[0]
    assert "Traceback" not in err


def run_serve(config: Path, db: Path, *extra: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*FLUXNOTIFY, "serve", "--config", str(config), "--db", str(db), *extra],
                          env=ENV, capture_output=True, text=True, timeout=60, **kwargs)


def one_line_failure(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_corrupted_database_at_start_up(tmp_path, config):
    db = tmp_path / "q.db"
    db.write_bytes(b"this is not a database, it is a text file" * 100)
    line = one_line_failure(run_serve(config, db, "--port", str(free_port())))
    assert str(db) in line and "not a database" in line


def test_locked_database_at_start_up(tmp_path, config):
    db = tmp_path / "q.db"
    locker = sqlite3.connect(db, isolation_level=None)
    locker.execute("CREATE TABLE x (y)")
    locker.execute("BEGIN EXCLUSIVE")
    try:
        line = one_line_failure(run_serve(config, db, "--port", str(free_port())))
    finally:
        locker.close()
    assert str(db) in line and "locked" in line


def test_read_only_database_at_start_up(tmp_path, config):
    db = tmp_path / "q.db"
    sqlite3.connect(db).close()
    db.chmod(0o444)
    command = [*FLUXNOTIFY, "serve", "--config", str(config), "--db", str(db), "--port", str(free_port())]
    if os.geteuid() == 0:  # root writes read-only files anyway: run serve without that power
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv (util-linux) to drop CAP_DAC_OVERRIDE")
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *command]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=60)
    line = one_line_failure(result)
    assert str(db) in line and "readonly" in line


@pytest.mark.parametrize("flag", ["--port", "--sink"])
def test_busy_port_is_one_line_naming_it(tmp_path, config, flag):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        extra = ["--port", str(port)] if flag == "--port" else ["--port", str(free_port()), "--sink", f"127.0.0.1:{port}"]
        line = one_line_failure(run_serve(config, tmp_path / "q.db", *extra))
    assert f"127.0.0.1:{port}" in line and "in use" in line


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell does to a background job


@pytest.mark.parametrize("how", ["SIGINT", "SIGINT in a background job", "SIGTERM", "Ctrl-C to the group"])
def test_stop_signals_end_serve_and_its_dispatcher_cleanly(tmp_path, config, how):
    port = free_port()
    process = subprocess.Popen(
        [*FLUXNOTIFY, "serve", "--config", str(config), "--db", str(tmp_path / "q.db"), "--port", str(port)],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        preexec_fn=_ignore_sigint if "background" in how else None)
    try:
        assert wait_until(lambda: _answers(port) and any(_is_worker(p) for p in descendants(process.pid)), 20)
        children = descendants(process.pid)
        if how == "Ctrl-C to the group":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGINT)
        _, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err
    assert wait_until(lambda: not any(alive(pid) for pid in children), timeout=10)


def _answers(port: int) -> bool:
    try:
        return request(f"http://127.0.0.1:{port}/healthz", timeout=2)[0] == 200
    except OSError:
        return False


def test_serve_needs_no_terminal(tmp_path, config, sink):
    """Started without a TTY and stdin closed (as CI and `setsid … < /dev/null` do)."""
    port = free_port()
    process = subprocess.Popen([*FLUXNOTIFY, "serve", "--config", str(config), "--db", str(tmp_path / "q.db"),
                                "--port", str(port)], env=ENV, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert wait_until(lambda: _answers(port), 20)
        assert request(f"http://127.0.0.1:{port}/", event(5))[0] == 202
        assert len(sink.wait_for(1, timeout=10)) == 1
    finally:
        err = stop(process)
    assert process.returncode == 0 and "Traceback" not in err


def test_make_run_takes_its_ports_and_stops_on_ctrl_c(tmp_path):
    port, sink_port = free_port(), free_port()
    venv = Path(sys.executable).parent.parent
    process = subprocess.Popen(
        ["make", "-s", "--no-print-directory", "run", f"PORT={port}", f"SINK_PORT={sink_port}",
         f"DEMO={tmp_path / 'demo'}", f"VENV={venv}"],
        cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        assert wait_until(lambda: _answers(port), 60)
        printed = b""
        os.set_blocking(process.stdout.fileno(), False)
        deadline = time.monotonic() + 30
        while printed.count(b"=== notification received") < 3 and time.monotonic() < deadline:
            printed += process.stdout.read() or b""
            time.sleep(0.1)
        assert printed.count(b"=== notification received") >= 3, printed  # 2 events, 2 providers
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err
    assert f"http://127.0.0.1:{port}/".encode() in err
    assert not _answers(port)
