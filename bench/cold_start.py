"""Cold start: import time of the Lambda handlers on the built layer vs `import boto3` alone.

Measured the way Lambda imports them: Python 3.12, the function code from `.aws-sam/build`
first on sys.path, then the built NotifyLayer (`.aws-sam/build/NotifyLayer/python`, as
/opt/python), then the runtime's boto3 (pinned like the layer's Makefile, installed once
into `.aws-sam/bench-runtime`, as /var/lang's site-packages). The layer is used read-only:
PYTHONDONTWRITEBYTECODE=1, and the run checks that no file appeared in it. Each case runs
in a fresh interpreter (subprocess) with the environment the handlers need; wall time
minus that of an interpreter doing nothing (`pass`) is the import cost. Cases are
interleaved and repeated; medians and the ratios to boto3 are reported. A last child
imports the dispatcher handler, renders a slack and a generic delivery, and reports
whether the heavy optional modules (azure.eventhub, celpy) got imported; one more imports
the dispatcher handler alone under `-X importtime`: the largest imports in our code
(cumulative) and the modules that cost most themselves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from common import ROOT, median

BUILD = ROOT / ".aws-sam" / "build"
LAYER = BUILD / "NotifyLayer" / "python"
RUNTIME = ROOT / ".aws-sam" / "bench-runtime"
ENV = {
    "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/events",
    "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dead",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "fluxnotify",
    "PYTHONDONTWRITEBYTECODE": "1",
}
PATHS = "import sys; sys.path[:0] = {paths!r}; "
CASES = {
    "baseline": ("", "pass"),
    "boto3": ("", "import boto3"),
    "receiver": ("ReceiverFunction", "import app"),
    "dispatcher": ("DispatcherFunction", "import app"),
}
HEAVY = ("azure.eventhub", "celpy")
CHECK = """
import json
import app
from pathlib import Path
from fluxnotify.model.event import parse_event
from fluxnotify.ops.render import render
from fluxnotify.config.files import load_files
event = parse_event(Path('events/bodies/kustomization-reconciled.json').read_bytes())
rendered = render(load_files(['examples/local.yaml']), event)
print(json.dumps({"rendered": [r["type"] for r in rendered if r["deliveries"]],
                  "loaded": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def python312() -> str | None:
    found = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    return str(found[-1]) if found else shutil.which("python3.12")


def runtime_sdk() -> dict[str, str]:
    """The boto3 and botocore versions the layer is resolved against (layers/notify/Makefile)."""
    makefile = (ROOT / "layers" / "notify" / "Makefile").read_text()
    return {name: re.search(rf"^RUNTIME_{name.upper()} \?= (\S+)", makefile, re.M).group(1)
            for name in ("boto3", "botocore")}


def ensure_runtime(python: str) -> Path:
    """The runtime's boto3, with its bytecode (like the Lambda image), installed once."""
    pins = [f"{name}=={version}" for name, version in runtime_sdk().items()]
    marker = RUNTIME / ("." + "-".join(pins))
    if not marker.exists():
        shutil.rmtree(RUNTIME, ignore_errors=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(RUNTIME), *pins], check=True, capture_output=True, timeout=300)
        marker.touch()
    return RUNTIME


def layer_files() -> int:
    return sum(1 for _ in LAYER.rglob("*"))


def code_for(function: str, statement: str, runtime: Path) -> str:
    if not statement or statement == "pass":
        return statement
    paths = ([str(BUILD / function)] if function else []) + [str(LAYER), str(runtime)]
    return PATHS.format(paths=paths) + statement


def wall(python: str, code: str, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([python, "-s", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def heavy_modules(python: str, runtime: Path, env: dict) -> dict:
    code = code_for("DispatcherFunction", CHECK, runtime)
    done = subprocess.run([python, "-s", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # the profile of the import alone: what the dispatcher's cold start is made of
    code = code_for("DispatcherFunction", "import app", runtime)
    done = subprocess.run([python, "-s", "-X", "importtime", "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    result["top_fluxnotify"] = top_imports(done.stderr, "fluxnotify")
    result["top_self"] = top_imports(done.stderr, "", count=12, column=0)
    return result


def top_imports(importtime: str, prefix: str, count: int = 5, column: int = 1) -> list[tuple[str, float]]:
    """Modules with the largest import time (ms) from -X importtime output: cumulative
    (``column`` 1) or their own (0)."""
    found = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [part.strip() for part in line[len("import time:"):].split("|")]
        name, value = parts[2], parts[column]
        if name.startswith(prefix) and value.isdigit():
            found.append((name, int(value) / 1000))
    return sorted(found, key=lambda item: -item[1])[:count]


def run(repeats: int = 9) -> dict:
    from size import ensure_built

    python = python312()
    if python is None:
        return {"error": "no Python 3.12 interpreter (the Lambda runtime's version)"}
    problem = ensure_built()
    if problem or not LAYER.is_dir():
        return {"error": problem or "the layer is not built"}
    runtime = ensure_runtime(python)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), **ENV}
    codes = {name: code_for(function, statement, runtime) for name, (function, statement) in CASES.items()}
    codes["boto3"] = PATHS.format(paths=[str(runtime)]) + "import boto3"
    before = layer_files()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(repeats):
        for name, code in codes.items():
            times[name].append(wall(python, code, env))
    base = median(times["baseline"])
    cost = {name: (median(values) - base) * 1000 for name, values in times.items() if name != "baseline"}
    heavy = heavy_modules(python, runtime, env)
    return {
        "interpreter_ms": base * 1000,
        "import_ms": cost,
        "receiver_vs_boto3": cost["receiver"] / cost["boto3"],
        "dispatcher_vs_boto3": cost["dispatcher"] / cost["boto3"],
        "runs": repeats,
        "python": python,
        "runtime_sdk": runtime_sdk(),
        "files_written_to_layer": layer_files() - before,
        "load": os.getloadavg()[0],  # the machine's other work meanwhile (1-minute average)
        **heavy,
    }


if __name__ == "__main__":
    print(json.dumps(run(3), indent=2))
