"""ops/dispatchproc.py's child: a burst of SIGTERMs (Linux's parent-death signal, the
supervisor's terminate, a process-group kill) ends it cleanly. Its handler once set a
threading.Event: a second SIGTERM arriving while the first handler held the Event's lock
deadlocked the main thread, and the child outlived serve."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from fluxnotify.settings import Settings


def start_child(tmp_path) -> subprocess.Popen:
    args = {"database": str(tmp_path / "q.db"), "workers": 1, "settings": Settings().as_dict(), "parent": os.getpid()}
    child = subprocess.Popen([sys.executable, "-m", "fluxnotify.ops.dispatchproc", json.dumps(args)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps({"generation": 0, "files": []}).encode() + b"\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == b"ready"
    return child


def test_a_burst_of_sigterms_ends_the_child(tmp_path):
    for _ in range(5):
        child = start_child(tmp_path)
        try:
            for _ in range(200):  # some land while an earlier handler is still running
                try:
                    os.kill(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    break
            deadline = time.monotonic() + 10
            while child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert child.poll() is not None, "the child hung on its own SIGTERM handler"
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
