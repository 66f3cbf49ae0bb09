"""Two local stacks on one machine: a second `make run` never breaks the first, and status
pages never fight over a port (issue 24 points 1 and 2). Every port here is chosen by the
kernel (port 0); the old fixed defaults are held on purpose where they are free."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from contextlib import ExitStack
from pathlib import Path

import pytest
from serveproc import ROOT, Serve, alert, event, get, post, provider, run_serve

OLD_DEFAULT_PORTS = (9292, 9293, 9294)  # receiver, sink… and the status page of old


@pytest.fixture
def config(tmp_path, sink) -> Path:
    path = tmp_path / "flux.yaml"
    path.write_text(provider("hook", sink.url + "/first") + alert("all", "hook"))
    return path


def make_run_args(config: Path, db: Path, sink_port: int) -> list[str]:
    """serve's arguments as `make run` passes them (see test_make_run_leaves_the_reset_to_serve)."""
    return ["--reset-db", "--config", str(config), "--db", str(db), "--sink", f"127.0.0.1:{sink_port}",
            "--rate-limit-interval", "0"]


def kernel_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_first_still_delivers(first: Serve, db: Path, inode: int, sink, already: int) -> None:
    assert db.exists() and db.stat().st_ino == inode, "the first stack's database was touched"
    status, answer = post(first.url + "/", event(message="still here"))
    assert status == 202, answer
    received = sink.wait_for(already + 1, timeout=20)
    assert received[-1].path == "/first" and received[-1].json()["message"] == "still here"
    status, health = get(first.url + "/healthz")
    assert status == 200, health


def test_a_second_make_run_on_the_same_ports_refuses_and_the_first_goes_on(tmp_path, config, sink):
    db = tmp_path / "demo.db"
    sink_port = kernel_port()
    with Serve(make_run_args(config, db, sink_port)) as first:
        assert post(first.url + "/", event())[0] == 202
        sink.wait_for(1, timeout=20)
        inode = db.stat().st_ino
        second = run_serve(["--port", str(first.port), *make_run_args(config, db, sink_port)])
        assert second.returncode != 0
        assert re.search(rf"cannot listen on 127\.0\.0\.1:{sink_port} \(--sink\): Address already in use",
                         second.stderr), second.stderr
        assert "Traceback" not in second.stderr
        assert_first_still_delivers(first, db, inode, sink, already=1)


def test_a_second_serve_on_the_same_receiver_port_refuses_before_touching_the_database(tmp_path, config, sink):
    db = tmp_path / "demo.db"
    with Serve(make_run_args(config, db, kernel_port())) as first:
        inode = db.stat().st_ino
        second = run_serve(["--port", str(first.port), "--reset-db", "-f", str(config), "--db", str(db)])
        assert second.returncode == 2
        assert second.stderr.strip().splitlines()[-1] == (
            f"fluxnotify: cannot listen on 127.0.0.1:{first.port}: Address already in use")
        assert_first_still_delivers(first, db, inode, sink, already=0)


def test_a_second_serve_on_the_same_database_refuses_naming_the_first(tmp_path, config, sink):
    db = tmp_path / "demo.db"
    with Serve(make_run_args(config, db, kernel_port())) as first:
        inode = db.stat().st_ino
        second = run_serve(["--port", "0", "--reset-db", "-f", str(config), "--db", str(db)])
        assert second.returncode == 2
        assert second.stderr.strip().splitlines()[-1] == (
            f"fluxnotify: {db} is in use by another fluxnotify serve (pid {first.process.pid}): "
            "stop it, or give this one another --db")
        assert_first_still_delivers(first, db, inode, sink, already=0)
    # Stopped (even killed: the kernel drops the lock), the database is free again.
    with Serve(["-f", str(config), "--db", str(db)]) as again:
        assert post(again.url + "/", event(message="after restart"))[0] == 202


def test_reset_db_empties_the_database_of_a_stopped_stack(tmp_path, config, sink):
    db = tmp_path / "demo.db"
    with Serve(["-f", str(config), "--db", str(db)]) as first:
        assert post(first.url + "/", event())[0] == 202
        sink.wait_for(1, timeout=20)
    with Serve(["--reset-db", "-f", str(config), "--db", str(db)]) as second:
        # The same event again: not a duplicate, the window was in the deleted database.
        assert post(second.url + "/", event())[0] == 202


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_leaves_the_reset_to_serve():
    shown = subprocess.run(["make", "-n", "-s", "-C", str(ROOT), "run", "PORT=18080", "SINK_PORT=18081"],
                           capture_output=True, text=True, timeout=30).stdout
    serve = " ".join(shown.replace("\\\n", " ").split())
    assert "fluxnotify serve --reset-db" in serve and "--port 18080" in serve
    assert "rm " not in shown, "make run must not delete anything itself"
    assert ".fluxnotify-demo-18080.db" in serve, "one database per port"


def hold(port: int, stack: ExitStack) -> None:
    """Listen on the port when it is free (when taken, someone else holds it: as good)."""
    s = stack.enter_context(socket.socket())
    try:
        s.bind(("127.0.0.1", port))
        s.listen()
    except OSError:
        pass


def test_two_stacks_start_together_each_with_its_page_while_the_old_defaults_are_held(tmp_path, sink):
    config = tmp_path / "flux.yaml"
    config.write_text(provider("hook", sink.url + "/first") + alert("all", "hook"))
    with ExitStack() as held:
        for port in OLD_DEFAULT_PORTS:
            hold(port, held)
        with Serve(["-f", str(config), "--db", str(tmp_path / "a.db")]) as a, \
                Serve(["-f", str(config), "--db", str(tmp_path / "b.db")]) as b:
            for stack in (a, b):
                line = stack.wait_line(r"status page on ")
                assert line.endswith(f"status page on {stack.url}/status")
                status, html = get(stack.url + "/status")
                assert status == 200 and "fluxnotify — delivery status" in html
                assert get(stack.url + "/status.json")[0] == 200
                assert post(stack.url + "/", event(message=f"to {stack.port}"))[0] == 202
            assert len(sink.wait_for(2, timeout=20)) == 2
