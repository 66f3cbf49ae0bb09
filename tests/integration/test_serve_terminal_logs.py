"""On a terminal serve logs short human lines; elsewhere JSON (issue 24 point 12). The
terminal is a real pseudo-terminal (pty): serve and its dispatcher child both write to it."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import time

from serveproc import ENV, FLUXNOTIFY, RECEIVING, Serve, alert, event, post, provider

HUMAN_DELIVERED = re.compile(r"^\d\d:\d\d:\d\d delivered Kustomization/flux-system/apps → flux-system/hook$")
HUMAN_FAILED = re.compile(r"^\d\d:\d\d:\d\d WARNING delivery failed HelmRelease/flux-system/podinfo "
                          r"→ flux-system/broken \(generic, \d+ ms\): .*500")


class Terminal:
    def __init__(self, args: list[str]):
        self.master, slave = pty.openpty()
        env = {k: v for k, v in ENV.items() if k != "FLUXNOTIFY_LOG_FORMAT"}
        self.process = subprocess.Popen([*FLUXNOTIFY, "serve", "--port", "0", *args], env=env,
                                        stdin=subprocess.DEVNULL, stdout=slave, stderr=slave)
        os.close(slave)
        self.text = ""

    def lines(self) -> list[str]:
        return [line.strip("\r") for line in self.text.split("\n")]

    def wait(self, pattern: re.Pattern, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines():
                if pattern.search(line):
                    return line
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    self.text += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:  # the terminal's other end closed
                    break
        raise AssertionError(f"no {pattern.pattern!r} on the terminal:\n{self.text}")

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        finally:
            os.close(self.master)


def test_a_terminal_gets_one_short_line_per_delivery(tmp_path, sink):
    config = tmp_path / "flux.yaml"
    config.write_text(provider("hook", sink.url + "/hook") + alert("all", "hook")
                      + provider("broken", sink.url + "/broken") + alert("helm", "broken", kind="HelmRelease"))
    sink.handler = lambda request: (500, {}, b"down") if request.path == "/broken" else (200, {}, b"ok")
    terminal = Terminal(["-f", str(config), "--db", str(tmp_path / "q.db")])
    try:
        url = RECEIVING.search(terminal.wait(RECEIVING)).group(1)
        assert post(url + "/", event())[0] == 202
        terminal.wait(HUMAN_DELIVERED)
        assert post(url + "/", event(kind="HelmRelease", name="podinfo"))[0] == 202
        terminal.wait(HUMAN_FAILED)
        assert not [line for line in terminal.lines() if line.startswith("{")], "no JSON on a terminal"
        assert all(len(line) < 200 for line in terminal.lines())
    finally:
        terminal.close()


def test_a_pipe_gets_json_lines(tmp_path, sink):
    config = tmp_path / "flux.yaml"
    config.write_text(provider("hook", sink.url + "/hook") + alert("all", "hook"))
    env = {"FLUXNOTIFY_LOG_FORMAT": ""}  # no override: stderr is a pipe here
    with Serve(["-f", str(config), "--db", str(tmp_path / "q.db")], env=env) as serve:
        assert post(serve.url + "/", event())[0] == 202
        line = serve.wait_line(r'"message": ?"delivered"')
        record = json.loads(line)
        assert record["object"] == "Kustomization/flux-system/apps" and record["providers"] == ["flux-system/hook"]
