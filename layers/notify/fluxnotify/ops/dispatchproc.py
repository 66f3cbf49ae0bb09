"""The dispatcher child process of `fluxnotify serve`, and the parent's supervisor of it.

The child never outlives serve: first thing it asks Linux to send it SIGTERM when its parent
goes (PR_SET_PDEATHSIG, through ctypes), then checks that the parent did not already die
while it was starting, and keeps watching the parent's pid as a fallback (other systems, or
a parent that died before the prctl). Ctrl-C reaches the whole process group: the child
ignores SIGINT and stops on the parent's SIGTERM instead, without a traceback.

The supervisor (a thread of serve) starts the child, waits for its readiness, and restarts
it with a growing back-off when it exits; ``alive()`` feeds `GET /healthz`. The child beats
on its stdout every BEAT s; a child that stops beating for HEARTBEAT_STALE s counts as dead.

The configuration comes from serve on the child's stdin, one JSON line per accepted version
(ops/reload.py): the text of every file, not their paths, so the child runs exactly what
serve validated, and a restarted child gets the running version, not whatever the files
hold at that moment. The child answers ``config N`` once version N is in use; serve waits
for that (up to CONFIG_ACK_TIMEOUT) before it says the configuration was reloaded.
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
CONFIG_ACK_TIMEOUT = 10.0


class DispatcherProcess:
    """Start the dispatcher child and keep one running until ``stop``.

    A plain subprocess (`python -m fluxnotify.ops.dispatchproc`), not multiprocessing: its
    spawn start method adds a 12 MB resource-tracker process. The child reports on its
    stdout: ``ready`` once its workers run, then ``beat`` every BEAT seconds.
    """

    def __init__(self, args: tuple):
        files, database, workers, settings = args
        self._argv = [sys.executable, "-m", "fluxnotify.ops.dispatchproc",
                      json.dumps({"database": database, "workers": workers, "settings": settings.as_dict(),
                                  "parent": os.getpid()})]
        self._files = files
        self._config_lock = threading.Lock()  # one writer on the child's stdin, the latest version
        self._generation = 0
        self._acked = threading.Condition()
        self._acked_generation = -1
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

    def send_config(self, files) -> None:
        """Hand a new accepted configuration to the running child (and to every later one)."""
        with self._config_lock:
            self._files = files
            self._generation += 1
            generation = self._generation
            if self._child is not None:
                _send_files(self._child, files, generation)
        deadline = time.monotonic() + CONFIG_ACK_TIMEOUT
        with self._acked:  # a child that is restarting gets it at its start: no wait then
            while self._acked_generation < generation and self.alive() and time.monotonic() < deadline:
                self._acked.wait(0.2)

    def _ack(self, line: bytes) -> None:
        if line.startswith(b"config "):
            with self._acked:
                self._acked_generation = max(self._acked_generation, int(line.split()[1]))
                self._acked.notify_all()

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
            code = self._follow() if error is None else None
            if self._stopping.is_set():
                return
            if error is None:
                logger.error("dispatcher process exited (code %s); restarting it in %.0f s", code, delay)
            if time.monotonic() - started > 60:
                delay = 1.0  # it ran for a while: start over with a short back-off
            if self._stopping.wait(delay):
                return
            delay = min(MAX_RESTART_DELAY, delay * 2)
            self.restarts += 1

    def _spawn(self) -> str | None:
        child = subprocess.Popen(self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        with self._config_lock:
            self._child = child
            _send_files(child, self._files, self._generation)
        # Deliveries must work once the port answers: wait until the child is up.
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            line = self._read_line(child, min(1.0, max(0.0, deadline - time.monotonic())))
            if line == b"ready":
                self._last_beat = time.monotonic()
                return None
            if line:
                self._ack(line)
            if child.poll() is not None or line == b"":
                child.wait()
                return f"the dispatcher process exited with code {child.returncode} while starting"
            if time.monotonic() > deadline or self._stopping.is_set():
                child.kill()
                child.wait()
                return "the dispatcher process did not start in time"

    def _follow(self) -> int:
        """Record heartbeats until the child exits (EOF on its stdout) or we stop; its exit code."""
        child = self._child
        assert child is not None and child.stdout is not None  # _spawn started it, with pipes
        while not self._stopping.is_set():
            line = self._read_line(child, 0.5)
            if line == b"":
                break
            if line is not None:
                self._last_beat = time.monotonic()
                self._ack(line)
        child.wait()
        child.stdout.close()
        return child.returncode

    @staticmethod
    def _read_line(child: subprocess.Popen, timeout: float) -> bytes | None:
        """One stripped line, b"" at EOF, None when nothing came within timeout."""
        stdout = child.stdout
        assert stdout is not None  # started with stdout=PIPE
        ready, _, _ = select.select([stdout], [], [], timeout)
        if not ready:
            return None
        line = stdout.readline()
        return line.strip() if line else b""


def _send_files(child: subprocess.Popen, files, generation: int) -> None:
    assert child.stdin is not None  # started with stdin=PIPE
    try:
        line = json.dumps({"generation": generation, "files": [list(item) for item in files]})
        child.stdin.write(line.encode() + b"\n")
        child.stdin.flush()
    except (OSError, ValueError):
        pass  # the child is gone: the supervisor starts another, with these files


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


def child_main(config_in, database, workers, settings, parent_pid, beat) -> None:
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # serve reloads and sends the result
    # A plain list, not a threading.Event: a handler runs between two bytecodes of the main
    # thread, which may hold the Event's lock just then (leaving stopping.wait()), and taking it
    # again deadlocked the child, which then outlived serve.
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))

    from fluxnotify.ops.logs import configure_logging
    from fluxnotify.ops.reload import LiveStore
    from fluxnotify.ops.workers import DispatchWorkers
    from fluxnotify.queue.checkpoint import Checkpointer
    from fluxnotify.queue.sqlite import SqliteDatabase, SqliteQueue
    from fluxnotify.settings import Settings

    configure_logging("INFO")
    store = LiveStore((_read_config(config_in) or (0, []))[1])
    threading.Thread(target=_follow_config, args=(config_in, store, beat), name="config", daemon=True).start()
    # serve checkpoints; the dispatcher polls for the write lock between the receiver's commits
    db = SqliteDatabase(database, autocheckpoint=Checkpointer.FALLBACK_PAGES, poll_lock=True)
    pool = DispatchWorkers(store, SqliteQueue(db, "events"), SqliteQueue(db, "dead"), workers, Settings(**settings),
                           idle_poll=0.01).start()
    beat(b"ready")
    next_beat = time.monotonic() + BEAT
    while not stopping and os.getppid() == parent_pid:
        if not pool.alive():
            os._exit(3)  # a worker died after all: the supervisor starts a fresh process
        if time.monotonic() >= next_beat:
            beat(b"beat")
            next_beat = time.monotonic() + BEAT
        time.sleep(0.2)
    pool.stop()


def _read_config(config_in) -> tuple[int, list] | None:
    """The next configuration from serve, with its generation; None at EOF (serve is gone)."""
    from fluxnotify.ops.reload import parse_files

    line = config_in.readline()
    if not line:
        return None
    data = json.loads(line)
    return data["generation"], parse_files(tuple((path, text) for path, text in data["files"]))


def _follow_config(config_in, store, beat) -> None:
    while True:
        try:
            read = _read_config(config_in)
        except Exception:  # serve validated it: only a bug lands here; keep the running one
            logger.exception("could not apply the configuration from serve")
            continue
        if read is None:
            return
        store.swap(read[1])
        beat(f"config {read[0]}".encode())


def main() -> None:
    args = json.loads(sys.argv[1])
    out = sys.stdout.buffer
    writing = threading.Lock()  # the main thread beats, the config thread acknowledges

    def beat(word: bytes) -> None:
        try:
            with writing:
                out.write(word + b"\n")
                out.flush()
        except (BrokenPipeError, ValueError):
            os._exit(0)  # the parent is gone

    child_main(sys.stdin.buffer, args["database"], args["workers"], args["settings"], args["parent"], beat)
    # The config reader thread blocks on stdin: no interpreter shutdown (it would abort on that lock).
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
