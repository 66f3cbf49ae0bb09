"""fluxnotify: Flux CD's notification providers as a serverless AWS application.

The package is grouped by the way an event travels (lowest layer first; a module imports
only from its own layer or below):

- ``model``: what flows — the Flux event, Go-JSON, Provider/Alert/Secret manifests.
- ``transport``, ``metrics``, ``errors``, ``settings``: HTTP out; counters and latencies; the
  failure hierarchy and ``Outcome``; runtime settings read once from the environment.
- ``config``: provider options and their resolution; the config stores (AWS, files).
- ``queue``: the queue interface (SQS, SQLite) and the message format on it.
- ``state``: every store (dedup, ledger, digests, threads, status), SQLite and DynamoDB.
- ``providers``: one module per provider type, in families, and the registry.
- ``ingress``: the receiver.
- ``delivery``: the delivery core: routing, the planner and its stages, the executor.
- ``ops``: what people run — the CLI, the local stack, render, validate, replay, import/export.
"""

from fluxnotify._version import VERSION as __version__

__all__ = ["__version__"]
