"""CloudWatch metrics in Embedded Metric Format (Powertools), one small interface.

Names (namespace ``fluxnotify``):

* receiver: ``EventsDuplicate``, ``EventsRejected`` (dimension ``Reason``) — an accepted
  event adds none: the dashboard counts requests and queued events with AWS's own metrics
  (API Gateway ``Count``, SQS ``NumberOfMessagesSent``), which cost nothing;
* dispatcher, dimension ``ProviderType``: ``DeliveryLatency`` (milliseconds, one value per
  delivery made: its SampleCount is the number delivered), ``DeliveriesFailed``,
  ``DeliveriesRetried``, ``DeliveriesDeadLettered``, ``DeliveriesSkipped`` (counts);
* dispatcher, no dimension: ``StatusWriteFailed`` (delivery status not recorded,
  state/status.py), ``ConfigRefreshFailed``, ``LedgerWriteFailed``; and ``TemplateErrors``
  (``ProviderType``), ``DigestsDropped`` (``Alert``).

Each is read by the dashboard (template.yaml), and a metric costs only in the hours it is
sent: in normal operation only ``DeliveryLatency`` is (skips and duplicates when they
happen); the failure counters cost nothing until something fails. No metric repeats what Lambda, SQS or API Gateway already measure (cold starts are
Lambda's ``Init Duration``).

The local stack uses ``NullMetrics``; Lambda handlers use ``EmfMetrics``, which adds up
an invocation's data points and prints them at ``flush()`` (the end of the invocation)
as one EMF document per dimension set, where CloudWatch Logs extracts them: counts are
summed, latencies go as a list of values (EMF takes up to 100 per document).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Protocol, TextIO

NAMESPACE = "fluxnotify"
MAX_VALUES = 100  # EMF: values of one metric in one document


class Metrics(Protocol):
    def count(self, name: str, dimensions: dict[str, str] | None = None, value: float = 1) -> None: ...

    def milliseconds(self, name: str, value: float, dimensions: dict[str, str] | None = None) -> None: ...


class NullMetrics:
    def count(self, name: str, dimensions: dict[str, str] | None = None, value: float = 1) -> None:
        pass

    def milliseconds(self, name: str, value: float, dimensions: dict[str, str] | None = None) -> None:
        pass


Dimensions = tuple[tuple[str, str], ...]


class EmfMetrics:
    def __init__(self, namespace: str = NAMESPACE, out: TextIO | None = None, service: str = "fluxnotify"):
        self.namespace = namespace
        self.service = service
        self._out = out
        self._lock = threading.Lock()
        self._counts: dict[Dimensions, dict[str, float]] = {}
        self._latencies: dict[Dimensions, dict[str, list[float]]] = {}

    def count(self, name: str, dimensions: dict[str, str] | None = None, value: float = 1) -> None:
        key = _key(dimensions)
        with self._lock:
            counts = self._counts.setdefault(key, {})
            counts[name] = counts.get(name, 0) + value

    def milliseconds(self, name: str, value: float, dimensions: dict[str, str] | None = None) -> None:
        key = _key(dimensions)
        with self._lock:
            self._latencies.setdefault(key, {}).setdefault(name, []).append(round(value, 3))

    def flush(self) -> None:
        """Print what the invocation measured, then forget it."""
        with self._lock:
            counts, latencies = self._counts, self._latencies
            self._counts, self._latencies = {}, {}
        out = self._out or sys.stdout
        for key in sorted(set(counts) | set(latencies)):
            for document in self._documents(key, counts.get(key, {}), latencies.get(key, {})):
                out.write(json.dumps(document, separators=(",", ":")) + "\n")
        out.flush()

    def _documents(self, key: Dimensions, counts: dict[str, float], latencies: dict[str, list[float]]):
        first = True
        while first or any(latencies.values()):
            values: dict[str, float | list[float]] = dict(counts) if first else {}
            units = dict.fromkeys(values, "Count")
            for name, series in latencies.items():
                if series:
                    values[name], latencies[name] = series[:MAX_VALUES], series[MAX_VALUES:]
                    units[name] = "Milliseconds"
            first = False
            if not values:
                return
            directive = {"Namespace": self.namespace, "Dimensions": [[name for name, _ in key]],
                         "Metrics": [{"Name": name, "Unit": units[name]} for name in values]}
            yield {"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [directive]},
                   "service": self.service, **dict(key), **values}


def _key(dimensions: dict[str, str] | None) -> Dimensions:
    if not dimensions:
        return ()
    if len(dimensions) == 1:
        ((name, value),) = dimensions.items()
        return ((name, value or "none"),)
    return tuple(sorted((k, v or "none") for k, v in dimensions.items()))
