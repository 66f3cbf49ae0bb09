"""The arguments of `fluxnotify test` (ops/testsend.py), kept apart so that building the
command line does not import the delivery path."""

from __future__ import annotations

from typing import Any


def add_parser(commands: Any, files_help: str, files: str) -> Any:
    test = commands.add_parser(
        "test", help="send one notification to one Provider and print what was sent and its answer",
        description="Send one notification through the real path (the planner, then the dispatcher's send\n"
                    "step) and print the requests (credentials masked), the provider's answer and the\n"
                    "outcome; exit 0 when delivered, 1 otherwise. Alert routing is not consulted: the\n"
                    "Provider is tested alone, as render previews a Provider no Alert references.")
    test.add_argument("-f", "--file", action="extend", nargs="+", required=True, metavar=files, help=files_help)
    test.add_argument("--provider", required=True, metavar="NS/NAME", help="the Provider to send to")
    test.add_argument("--event", metavar="EVENT.json",
                      help="the event to send (default: a Kustomization ReconciliationSucceeded info event)")
    test.add_argument("--cluster", default="", metavar="NAME", help="send as if the event came from this cluster")
    test.add_argument("--show-secrets", action="store_true", help="print credentials instead of *****")
    return test
