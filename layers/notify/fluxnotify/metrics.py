"""CloudWatch metrics in Embedded Metric Format (Powertools), one small interface.

Names (namespace ``fluxnotify``):

* receiver: ``EventsReceived``, ``EventsQueued``, ``EventsDuplicate``,
  ``EventsRejected`` (dimension ``Reason``);
* dispatcher, dimension ``ProviderType``: ``DeliveriesSent``, ``DeliveriesFailed``,
  ``DeliveriesRetried``, ``DeliveriesDeadLettered``, ``DeliveriesSkipped`` (counts) and
  ``DeliveryLatency`` (milliseconds, sent and failed deliveries);
* dispatcher, no dimension: ``StatusWriteFailed`` (delivery status not recorded,
  delivery/status.py).

The local stack uses ``NullMetrics``; Lambda handlers use ``EmfMetrics``, which prints
one EMF document per data point to stdout, where CloudWatch Logs extracts it.
"""

from __future__ import annotations

from typing import Protocol

NAMESPACE = "fluxnotify"


class Metrics(Protocol):
    def count(self, name: str, dimensions: dict[str, str] | None = None, value: float = 1) -> None: ...

    def milliseconds(self, name: str, value: float, dimensions: dict[str, str] | None = None) -> None: ...


class NullMetrics:
    def count(self, name: str, dimensions: dict[str, str] | None = None, value: float = 1) -> None:
        pass

    def milliseconds(self, name: str, value: float, dimensions: dict[str, str] | None = None) -> None:
        pass


class EmfMetrics:
    def __init__(self, namespace: str = NAMESPACE):
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        self.namespace = namespace
        self._single_metric = single_metric
        self._units = MetricUnit

    def count(self, name: str, dimensions: dict[str, str] | None = None, value: float = 1) -> None:
        self._emit(name, self._units.Count, value, dimensions)

    def milliseconds(self, name: str, value: float, dimensions: dict[str, str] | None = None) -> None:
        self._emit(name, self._units.Milliseconds, value, dimensions)

    def _emit(self, name: str, unit, value: float, dimensions: dict[str, str] | None) -> None:
        with self._single_metric(name=name, unit=unit, value=value, namespace=self.namespace) as metric:
            for key, dimension in (dimensions or {}).items():
                metric.add_dimension(name=key, value=dimension or "none")
