"""The dispatcher child process of `fluxnotify serve`, and the parent's supervisor of it.

The child never outlives serve: first thing it asks Linux to send it SIGTERM when its parent
goes (PR_SET_PDEATHSIG, through ctypes), then checks that the parent did not already die
while it was starting, and keeps watching the parent's pid as a fallback (other systems, or
a parent that died before the prctl). Ctrl-C reaches the whole process group: the child
ignores SIGINT and stops on the parent's SIGTERM instead, without a traceback.

The supervisor (a thread of serve) starts the child, waits for its readiness, and restarts
it with a growing back-off when it exits; ``alive()`` feeds `GET /healthz`. The child beats
on its stdout every BEAT s; a child that stops beating for HEARTBEAT_STALE s counts as dead.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1
BEAT = 1.0
HEARTBEAT_STALE = 5.0
MAX_RESTART_DELAY = 30.0
START_TIMEOUT = 60.0


class DispatcherProcess:
    """Start the dispatcher child and keep one running until ``stop``.

    A plain subprocess (`python -m fluxnotify.ops.dispatchproc`), not multiprocessing: its
    spawn start method adds a 12 MB resource-tracker process. The child reports on its
    stdout: ``ready`` once its workers run, then ``beat`` every BEAT seconds.
    """

    def __init__(self, args: tuple):
        config_paths, database, workers, settings = args
        self._argv = [sys.executable, "-m", "fluxnotify.ops.dispatchproc",
                      json.dumps({"config": list(config_paths), "database": database, "workers": workers,
                                  "settings": settings.as_dict(), "parent": os.getpid()})]
        self._child: subprocess.Popen | None = None
        self._last_beat = 0.0
        self._stopping = threading.Event()
        self._first = threading.Event()
        self._failure: str | None = None
        self.restarts = 0
        # The thread that forks is the child's "parent" for PR_SET_PDEATHSIG: one that lives
        # as long as serve, never a short-lived caller thread.
        self._thread = threading.Thread(target=self._supervise, name="dispatcher-supervisor", daemon=True)

    def start(self) -> DispatcherProcess:
        self._thread.start()
        self._first.wait()
        if self._failure:
            self.stop()
            raise RuntimeError(self._failure)
        return self

    def alive(self) -> bool:
        child = self._child
        return child is not None and child.poll() is None and time.monotonic() - self._last_beat < HEARTBEAT_STALE

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def stop(self) -> None:
        self._stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=5)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _supervise(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            started = time.monotonic()
            error = self._spawn()
            if not self._first.is_set():
                self._failure = error
                self._first.set()
                if error:
                    return
            elif error:
                logger.error("dispatcher process failed to start: %s", error)
            if error is None:
                self._follow()
            if self._stopping.is_set():
                return
            if error is None:
                logger.error("dispatcher process exited (code %s); restarting it in %.0f s",
                             self._child.returncode, delay)
            if time.monotonic() - started > 60:
                delay = 1.0  # it ran for a while: start over with a short back-off
            if self._stopping.wait(delay):
                return
            delay = min(MAX_RESTART_DELAY, delay * 2)
            self.restarts += 1

    def _spawn(self) -> str | None:
        child = subprocess.Popen(self._argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        self._child = child
        # Deliveries must work once the port answers: wait until the child is up.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            line = self._read_line(child, min(1.0, max(0.0, deadline - time.monotonic())))
            if line == b"ready":
                self._last_beat = time.monotonic()
                return None
            if child.poll() is not None or line == b"":
                child.wait()
                return f"the dispatcher process exited with code {child.returncode} while starting"
            if time.monotonic() > deadline or self._stopping.is_set():
                child.kill()
                child.wait()
                return "the dispatcher process did not start in time"

    def _follow(self) -> None:
        """Record heartbeats until the child exits (EOF on its stdout) or we stop."""
        child = self._child
        while not self._stopping.is_set():
            line = self._read_line(child, 0.5)
            if line == b"":
                break
            if line is not None:
                self._last_beat = time.monotonic()
        child.wait()
        child.stdout.close()

    @staticmethod
    def _read_line(child: subprocess.Popen, timeout: float) -> bytes | None:
        """One stripped line, b"" at EOF, None when nothing came within timeout."""
        ready, _, _ = select.select([child.stdout], [], [], timeout)
        if not ready:
            return None
        line = child.stdout.readline()
        return line.strip() if line else b""


def die_with_parent(parent_pid: int) -> None:
    """SIGTERM when the parent goes; exit now if it already went while we were starting."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the pid watch below still catches it
    if os.getppid() != parent_pid:
        os._exit(0)


def child_main(config_paths, database, workers, settings, parent_pid, beat) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())

    from fluxnotify.config.files import FileStore
    from fluxnotify.ops.logs import configure_logging
    from fluxnotify.ops.workers import DispatchWorkers
    from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue
    from fluxnotify.settings import Settings

    configure_logging("INFO")
    db = SqliteDatabase(database)
    pool = DispatchWorkers(FileStore.from_paths(config_paths), SqliteQueue(db, "events"),
                           SqliteQueue(db, "dead"), workers, Settings(**settings), idle_poll=0.01).start()
    beat(b"ready")
    next_beat = time.monotonic() + BEAT
    while not stopping.is_set() and os.getppid() == parent_pid:
        if not pool.alive():
            os._exit(3)  # a worker died after all: the supervisor starts a fresh process
        if time.monotonic() >= next_beat:
            beat(b"beat")
            next_beat = time.monotonic() + BEAT
        stopping.wait(0.2)
    pool.stop()


def main() -> None:
    args = json.loads(sys.argv[1])
    out = sys.stdout.buffer

    def beat(word: bytes) -> None:
        try:
            out.write(word + b"\n")
            out.flush()
        except (BrokenPipeError, ValueError):
            os._exit(0)  # the parent is gone

    child_main(args["config"], args["database"], args["workers"], args["settings"], args["parent"], beat)


if __name__ == "__main__":
    main()
