"""The functions one event passes from the receiver to a Slack POST (a measure of the
delivery path's shape, not its speed).

Runs the real Receiver and Dispatcher in-process on a Slack Provider pointed at a local
capture server, warms up with one event, then profiles a second one and prints every
distinct package function it called (comprehensions, lambdas and dataclass-generated
methods left out), in first-call order, with the count of functions and modules.

    .venv/bin/python bench/event_path.py
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fluxnotify.config.files import FileStore  # noqa: E402
from fluxnotify.delivery.dispatcher import Dispatcher  # noqa: E402
from fluxnotify.ingress.receiver import Receiver  # noqa: E402
from fluxnotify.model.manifests import load_yaml  # noqa: E402
from fluxnotify.state.dedup import NoDedup  # noqa: E402
from httpsink import HttpSink  # noqa: E402

EVENT = {"involvedObject": {"kind": "Kustomization", "namespace": "flux-system", "name": "apps"},
         "severity": "info", "timestamp": "2024-01-01T00:00:00Z", "message": "ok", "reason": "ReconciliationSucceeded",
         "reportingController": "kustomize-controller",
         "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:abc"}}


class Memory:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send(self, body: str, delay: int = 0) -> str:
        self.bodies.append(body)
        return str(len(self.bodies))


def manifests(url: str) -> str:
    v = "notification.toolkit.fluxcd.io/v1beta3"
    return (f"apiVersion: {v}\nkind: Provider\nmetadata: {{name: slack, namespace: flux-system}}\n"
            f"spec: {{type: slack, address: \"{url}/hook\", channel: general}}\n---\n"
            f"apiVersion: {v}\nkind: Alert\nmetadata: {{name: all, namespace: flux-system}}\n"
            "spec: {providerRef: {name: slack}, eventSources: [{kind: Kustomization, name: '*'}]}\n")


def trace() -> list[str]:
    seen: dict[str, None] = {}

    def profile(frame, event, arg):  # noqa: ANN001
        module = frame.f_globals.get("__name__", "")
        name = frame.f_code.co_qualname
        if event == "call" and module.startswith("fluxnotify") and not any(
                part in name for part in ("<locals>", "<lambda>", "__create_fn__", "<genexpr>", "<listcomp>")):
            seen.setdefault(f"{module}.{name}")

    with HttpSink() as sink:
        queue = Memory()
        receiver = Receiver(queue, NoDedup())
        dispatcher = Dispatcher(FileStore(load_yaml(manifests(sink.url))), queue, Memory())
        for round_ in range(2):
            if round_:
                sys.setprofile(profile)
                threading.setprofile(profile)
            receiver.handle("POST", "/", {"Content-Type": "application/json"}, json.dumps(EVENT).encode())
            dispatcher.handle(queue.bodies.pop())
            sys.setprofile(None)
            threading.setprofile(None)
        assert len(sink.wait_for(2)) == 2
    return list(seen)


def module_of(function: str) -> str:
    parts = function.split(".")
    for end in range(len(parts), 0, -1):
        try:
            importlib.import_module(".".join(parts[:end]))
            return ".".join(parts[:end])
        except ImportError:
            continue
    return function


if __name__ == "__main__":
    functions = trace()
    modules = {module_of(f) for f in functions}
    print(f"{len(functions)} functions in {len(modules)} modules")
    for function in functions:
        print(" ", function)
