"""Where a process's CPU goes under load: py-spy samples, top functions by cumulative share.

py-spy (the dev extra) attaches to a running pid from outside: nothing in serve changes for
it. Without py-spy (or without the right to trace) the profile is reported as unavailable.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

TOP = 20


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start(pid: int, seconds: float, rate: int = 250) -> tuple[subprocess.Popen, Path] | None:
    """Begin sampling pid (all its threads, idle ones left out) for `seconds`."""
    binary = py_spy()
    if binary is None:
        return None
    out = Path(tempfile.mkstemp(prefix="pyspy-", suffix=".txt")[1])
    args = [binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))), "--rate", str(rate),
            "--format", "raw", "--output", str(out), "--nonblocking"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), out


def finish(started: tuple[subprocess.Popen, Path] | None) -> dict:
    """{"samples": N, "cumulative": [(function, %)], "self": [(function, %)]} or {"error": ...}."""
    if started is None:
        return {"error": "py-spy is not installed (pip install py-spy, in the dev extra)"}
    process, out = started
    try:
        process.wait(timeout=60)
        text = out.read_text()
    except (subprocess.TimeoutExpired, OSError) as err:
        process.kill()
        return {"error": f"py-spy: {err}"}
    finally:
        out.unlink(missing_ok=True)
    if process.returncode or not text.strip():
        return {"error": f"py-spy recorded nothing (exit {process.returncode}; tracing may not be allowed)"}
    return summarise(text)


def summarise(collapsed: str) -> dict:
    """Collapsed stacks (`frame;frame;frame count` lines) → top functions by share of samples."""
    total, cumulative, own = 0, Counter(), Counter()
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_short(frame) for frame in stack.split(";")]
        total += int(count)
        for frame in set(frames):
            cumulative[frame] += int(count)
        own[frames[-1]] += int(count)

    def top(counter: Counter) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(TOP)]

    return {"samples": total, "cumulative": top(cumulative), "self": top(own)}


def _short(frame: str) -> str:
    """`handle (/…/fluxnotify/ingress/receiver.py:95)` → `handle (ingress/receiver.py)`."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    for anchor in ("fluxnotify", "site-packages", "lib"):
        if anchor in parts:
            parts = parts[len(parts) - parts[::-1].index(anchor):]
            break
    return f"{name} ({'/'.join(parts[-2:])})" if parts else name
