"""serve reloads its configuration on a changed file and on SIGHUP; a broken one is refused
with one line and the running one kept (issue 24 point 4). The dispatcher runs in serve's
child process: these deliveries prove the child got each accepted version."""

from __future__ import annotations

import os
import signal
import time

import pytest
from serveproc import Serve, alert, event, post, provider

REFUSED = "configuration not reloaded, the previous one stays"


@pytest.fixture
def stack(tmp_path, sink):
    config = tmp_path / "flux.yaml"
    config.write_text(provider("old", sink.url + "/old") + alert("kustomizations", "old"))
    with Serve(["-f", str(config), "--db", str(tmp_path / "q.db"), "--rate-limit-interval", "0"]) as serve:
        serve.config = config
        yield serve


def delivered_to(sink, path: str, count: int = 1, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in sink.requests if r.path == path]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"nothing delivered to {path}: {[r.path for r in sink.requests]}")


def test_a_changed_file_is_used_within_seconds(stack, sink):
    stack.config.write_text(stack.config.read_text() + provider("new", sink.url + "/new")
                            + alert("helmreleases", "new", kind="HelmRelease"))
    started = time.monotonic()
    line = stack.wait_line("configuration reloaded", timeout=10)
    assert line.endswith("configuration reloaded (file changed): 2 Providers, 2 Alerts: all Ready")
    assert post(stack.url + "/", event(kind="HelmRelease", name="podinfo"))[0] == 202
    assert delivered_to(sink, "/new")[0].json()["involvedObject"]["name"] == "podinfo"
    assert time.monotonic() - started < 10
    assert post(stack.url + "/", event())[0] == 202  # the old Alert and Provider still work
    delivered_to(sink, "/old")


def test_sighup_reloads_even_when_no_mtime_changed(stack, sink):
    before = os.stat(stack.config)
    text = stack.config.read_text().replace("/old", "/hup")  # the same length: same size
    with open(stack.config, "r+") as same_inode:
        same_inode.write(text)
    os.utime(stack.config, ns=(before.st_atime_ns, before.st_mtime_ns))  # the watcher sees nothing
    time.sleep(1.5)
    assert not stack.matching("configuration reloaded")
    stack.process.send_signal(signal.SIGHUP)
    assert stack.wait_line("configuration reloaded", timeout=10).endswith(
        "configuration reloaded (SIGHUP): 1 Provider, 1 Alert: all Ready")
    assert post(stack.url + "/", event())[0] == 202
    delivered_to(sink, "/hup")
    assert stack.process.poll() is None, "SIGHUP must not stop serve"


@pytest.mark.parametrize(("broken", "said"), [
    ("kind: Provider\nspec: [unclosed\n", "not valid YAML"),
    (provider("new", "https://hooks.example/x", kind="slak") + alert("more", "new"), "slak"),
])
def test_a_broken_file_is_refused_in_one_line_and_the_old_config_delivers(stack, sink, broken, said):
    stack.config.write_text(stack.config.read_text() + broken)
    line = stack.wait_line(REFUSED, timeout=10)
    assert said in line
    time.sleep(1.5)  # polled again meanwhile: still one line, no retry storm
    assert len(stack.matching(REFUSED)) == 1 and not stack.matching("configuration reloaded")
    assert post(stack.url + "/", event())[0] == 202
    delivered_to(sink, "/old")
    # Fixed, it is taken.
    stack.config.write_text(stack.config.read_text().replace(broken, "") + provider("fixed", sink.url + "/fixed")
                            + alert("fixed", "fixed", kind="HelmRelease"))
    stack.wait_line("configuration reloaded", timeout=10)
    assert post(stack.url + "/", event(kind="HelmRelease", name="podinfo"))[0] == 202
    delivered_to(sink, "/fixed")


def test_a_restarted_dispatcher_gets_the_reloaded_config(stack, sink):
    stack.config.write_text(stack.config.read_text().replace("/old", "/new"))
    stack.wait_line("configuration reloaded", timeout=10)
    children = open(f"/proc/{stack.process.pid}/task/{stack.process.pid}/children").read().split()
    if not children:  # the supervisor thread forked it: look at every thread's children
        children = [c for task in os.listdir(f"/proc/{stack.process.pid}/task")
                    for c in open(f"/proc/{stack.process.pid}/task/{task}/children").read().split()]
    os.kill(int(children[0]), signal.SIGKILL)
    stack.wait_line("dispatcher process exited", timeout=15)
    assert post(stack.url + "/", event())[0] == 202
    assert delivered_to(sink, "/new", timeout=30)
    assert not [r for r in sink.requests if r.path == "/old"]
