"""Build check (layers/notify/Makefile): every fluxnotify module imports from the built layer.

Run by the build's Python 3.12 inside the layer's python/ directory, so it loads the
layer's own files: the sourceless dependencies, the stripped extensions. boto3 is the
runtime's, not the layer's: a module that needs it at import is reported, not failed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

sys.path[:0] = ["."]
import fluxnotify  # noqa: E402

EXTRA = ("aws_lambda_powertools.logging", "aws_lambda_powertools.logging.correlation_paths", "aws_lambda_powertools.tracing",
         "celpy", "re2", "yaml", "azure.eventhub", "nats", "opentelemetry.proto.trace.v1.trace_pb2", "rsa")
needs_sdk = []
names = [m.name for m in pkgutil.walk_packages(fluxnotify.__path__, "fluxnotify.")]
for name in [*names, *EXTRA]:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name not in ("boto3", "botocore"):
            raise
        needs_sdk.append(name)
print(f"smoke import: {len(names)} fluxnotify modules and {len(EXTRA)} dependencies import"
      + (f" ({len(needs_sdk)} need the runtime's boto3: {', '.join(needs_sdk)})" if needs_sdk else ""))
