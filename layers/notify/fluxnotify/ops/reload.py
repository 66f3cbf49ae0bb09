"""The live configuration of `fluxnotify serve`: validated at start, reloaded on SIGHUP and on change.

Serve reads the files once into a snapshot of their text (``ConfigText``), parses and
validates it (ops/validate.py); the dispatcher, in-process or in its child process
(ops/dispatchproc.py), only ever gets an accepted snapshot, so both always run the same
configuration. A watcher thread polls the files' mtimes every POLL seconds; a change is
loaded once it held still for one poll (an editor that truncates then writes is not caught
half-way). A new configuration is refused, with one line, and the running one kept, when it
cannot be read or parsed, or when it brings a problem the running one does not have (an
object not Ready); under ``--strict``, when anything in it is not Ready.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fluxnotify.config.files import NOTHING, FileStore
from fluxnotify.model.manifests import Alert, Manifest, ManifestError, Provider, load_yaml

logger = logging.getLogger(__name__)

POLL = 0.5
STDIN = "-"

Files = tuple[tuple[str, str], ...]  # (path, text), in load order


def expand(paths: list[str]) -> list[str]:
    """Files in load order: a directory stands for its *.yaml/*.yml files, sorted (as load_files)."""
    expanded: list[str] = []
    for path in paths:
        if path != STDIN and Path(path).is_dir():
            expanded += sorted(str(p) for p in Path(path).rglob("*") if p.suffix in (".yaml", ".yml"))
        elif path != NOTHING:
            expanded.append(path)
    return expanded


def read_files(paths: list[str], stdin_text: str | None = None) -> Files:
    """The text of every file (standard input's text for ``-``); ManifestError names a bad file."""
    files = []
    for path in expand(paths):
        if path == STDIN:
            files.append((path, stdin_text or ""))
            continue
        try:
            files.append((path, Path(path).read_text(encoding="utf-8")))
        except OSError as err:
            raise ManifestError(f"{path}: cannot read file: {err.strerror or err}") from None
        except UnicodeDecodeError:
            raise ManifestError(f"{path}: not UTF-8 text") from None
    return tuple(files)


def parse_files(files: Files) -> list[Manifest]:
    return [obj for path, text in files for obj in load_yaml(text, "<stdin>" if path == STDIN else path)]


def fingerprint(paths: list[str]) -> tuple:
    """What changes when a file or a directory's set of files changes (mtime, size, inode)."""
    marks: list[tuple] = []
    for path in [*paths, *expand(paths)]:
        if path in (STDIN, NOTHING):
            continue
        try:
            info = os.stat(path)
            marks.append((path, info.st_mtime_ns, info.st_size, info.st_ino))
        except OSError as err:
            marks.append((path, err.errno))
    return tuple(marks)


class LiveStore:
    """A ConfigStore whose objects can be replaced; ``generation`` tells caches (configcache.py)."""

    def __init__(self, objects: list[Manifest]):
        self._store = FileStore(objects)
        self.generation = 0

    def swap(self, objects: list[Manifest]) -> None:
        self._store = FileStore(objects)
        self.generation += 1

    def alerts(self) -> list[Alert]:
        return self._store.alerts()

    def providers(self) -> list[Provider]:
        return self._store.providers()

    def provider(self, namespace: str, name: str) -> Provider | None:
        return self._store.provider(namespace, name)

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return self._store.secret(namespace, name)


@dataclass(frozen=True)
class Loaded:
    files: Files
    objects: list[Manifest]
    conditions: list  # ops/validate.py Condition, one per Provider and Alert

    @property
    def not_ready(self) -> list:
        return [c for c in self.conditions if not c.ready]

    def summary(self) -> str:
        providers = sum(1 for o in self.objects if isinstance(o, Provider))
        alerts = sum(1 for o in self.objects if isinstance(o, Alert))
        bad = len(self.not_ready)
        state = f"{bad} not Ready" if bad else "all Ready"
        return f"{_count(providers, 'Provider')}, {_count(alerts, 'Alert')}: {state}"


def load(paths: list[str], stdin_text: str | None = None) -> Loaded:
    from fluxnotify.ops.validate import conditions

    files = read_files(paths, stdin_text)
    objects = parse_files(files)
    return Loaded(files, objects, conditions(objects))


def problem_line(condition) -> str:
    return f"{condition.kind} {condition.key} is not Ready: {condition.reason}: {condition.message}"


class LiveConfig:
    """The accepted configuration and the watcher that replaces it.

    ``on_change(loaded)`` runs (in the watcher thread) for every accepted configuration;
    ``report(line)`` hears one line per reload, accepted or refused.
    """

    def __init__(self, paths: list[str], *, strict: bool = False, report: Callable[[str], None] | None = None):
        self.paths = paths
        self.strict = strict
        self.report = report or logger.warning
        self._stdin = sys.stdin.read() if STDIN in paths else None  # read once: it cannot change
        self._seen = fingerprint(paths)
        self.current = load(paths, self._stdin)
        self.on_change: Callable[[Loaded], None] = lambda loaded: None
        self._wake = threading.Event()
        self._requesting = False  # a SIGHUP handler is inside _wake.set()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LiveConfig:
        self._thread = threading.Thread(target=self._watch, name="config-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def request(self) -> None:
        """Reload now (SIGHUP); safe to call from a signal handler. A second SIGHUP that lands
        while the first handler is inside ``set()`` (which holds the Event's lock) returns at
        once: the reload is requested already, and ``set()`` again would wait on that lock
        forever in the same thread."""
        if self._requesting:
            return
        self._requesting = True
        try:
            self._wake.set()
        finally:
            self._requesting = False

    def reload(self, why: str) -> bool:
        """Load the files again; True when the new configuration replaced the running one."""
        try:
            loaded = load(self.paths, self._stdin)
        except (ManifestError, RecursionError) as err:
            return self._refuse(str(err))
        refusal = self._refusal(loaded)
        if refusal:
            return self._refuse(refusal)
        self.current = loaded
        self.on_change(loaded)
        self.report(f"configuration reloaded ({why}): {loaded.summary()}")
        return True

    def _refusal(self, loaded: Loaded) -> str | None:
        known = {(c.kind, c.key, c.reason, c.message) for c in self.current.not_ready}
        new = [c for c in loaded.not_ready if self.strict or (c.kind, c.key, c.reason, c.message) not in known]
        if not new:
            return None
        more = f" (and {len(new) - 1} more)" if len(new) > 1 else ""
        return problem_line(new[0]) + more + (" (--strict)" if self.strict else "")

    def _refuse(self, reason: str) -> bool:
        self.report(f"configuration not reloaded, the previous one stays: {' '.join(reason.split())}")
        return False

    def _watch(self) -> None:
        pending = None
        while not self._stopping.is_set():
            hup = self._wake.wait(POLL)
            if self._stopping.is_set():
                return
            self._wake.clear()
            mark = fingerprint(self.paths)
            if hup:
                self._seen, pending = mark, None
                self._guarded(self.reload, "SIGHUP")
            elif mark != self._seen:
                if mark == pending:  # unchanged for one poll: the writer is done
                    self._seen, pending = mark, None
                    self._guarded(self.reload, "file changed")
                else:
                    pending = mark

    @staticmethod
    def _guarded(action, why: str) -> None:
        try:
            action(why)
        except Exception:  # the watcher must outlive any surprise in a reload
            logger.exception("configuration reload failed")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
