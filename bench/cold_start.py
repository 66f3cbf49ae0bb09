"""Cold start: import time of the Lambda handler modules vs `import boto3` alone.

Each case runs in a fresh interpreter (subprocess) with the environment the
handlers need (dummy QUEUE_URL/DLQ_URL, AWS_DEFAULT_REGION). Wall time of the
subprocess minus that of an interpreter doing nothing (`pass`) is the import
cost. Cases are interleaved and repeated; medians and the ratios to boto3 are
reported. A last child imports the dispatcher handler, renders a slack and a
generic delivery (`fluxnotify.ops.render`), and reports whether the heavy optional
modules (azure.eventhub, celpy) got imported. `-X importtime` of that child
gives the largest imports in our code.
"""

from __future__ import annotations

import json
import subprocess
import time

from common import PYTHON, ROOT, median

ENV = {
    "QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/events",
    "DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dead",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "fluxnotify",
}
CASES = {
    "baseline": "pass",
    "boto3": "import boto3",
    "receiver": "import sys; sys.path.insert(0, 'functions/receiver'); import app",
    "dispatcher": "import sys; sys.path.insert(0, 'functions/dispatcher'); import app",
}
HEAVY = ("azure.eventhub", "celpy")
CHECK = """
import json, sys
sys.path.insert(0, 'functions/dispatcher')
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


def wall(code: str, env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def heavy_modules(env: dict) -> dict:
    done = subprocess.run([PYTHON, "-X", "importtime", "-c", CHECK], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["top_fluxnotify"] = top_imports(done.stderr, "fluxnotify")
    return result


def top_imports(importtime: str, prefix: str, count: int = 5) -> list[tuple[str, float]]:
    """Our modules with the largest cumulative import time (ms), from -X importtime output."""
    found = []
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:"):].split("|"))
        if name.startswith(prefix) and cumulative.isdigit():
            found.append((name, int(cumulative) / 1000))
    return sorted(found, key=lambda item: -item[1])[:count]


def run(repeats: int = 9) -> dict:
    import os

    env = {**os.environ, **ENV}
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(repeats):
        for name, code in CASES.items():
            times[name].append(wall(code, env))
    base = median(times["baseline"])
    cost = {name: (median(values) - base) * 1000 for name, values in times.items() if name != "baseline"}
    return {
        "interpreter_ms": base * 1000,
        "import_ms": cost,
        "receiver_vs_boto3": cost["receiver"] / cost["boto3"],
        "dispatcher_vs_boto3": cost["dispatcher"] / cost["boto3"],
        "runs": repeats,
        **heavy_modules(env),
    }


if __name__ == "__main__":
    print(json.dumps(run(3), indent=2))
