"""EmfMetrics: data points added up per invocation, one document per dimension set."""

from __future__ import annotations

import io
import json

from fluxnotify.metrics import EmfMetrics


def documents(metrics: EmfMetrics) -> list[dict]:
    out = io.StringIO()
    metrics._out = out
    metrics.flush()
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_counts_are_summed_and_latencies_listed_per_dimension_set():
    metrics = EmfMetrics()
    for _ in range(3):
        metrics.count("DeliveriesSent", {"ProviderType": "slack"})
        metrics.milliseconds("DeliveryLatency", 12.5, {"ProviderType": "slack"})
    metrics.count("DeliveriesSent", {"ProviderType": "github"}, 2)
    found = documents(metrics)
    by_type = {d.get("ProviderType"): d for d in found}
    assert set(by_type) == {"github", "slack"}  # no document without a dimension: no ColdStart
    assert by_type["slack"]["DeliveriesSent"] == 3
    assert by_type["slack"]["DeliveryLatency"] == [12.5, 12.5, 12.5]
    assert by_type["github"]["DeliveriesSent"] == 2
    directive = by_type["slack"]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["ProviderType"]]
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "DeliveriesSent": "Count", "DeliveryLatency": "Milliseconds"}


def test_nothing_is_printed_without_data_and_nothing_is_left_after_a_flush():
    metrics = EmfMetrics()
    assert documents(metrics) == []  # an invocation that measured nothing costs no log line
    metrics.count("EventsDuplicate")
    assert len(documents(metrics)) == 1
    assert documents(metrics) == []


def test_more_than_100_latencies_take_several_documents():
    metrics = EmfMetrics()
    for i in range(250):
        metrics.milliseconds("DeliveryLatency", i, {"ProviderType": "generic"})
    metrics.count("DeliveriesSent", {"ProviderType": "generic"}, 250)
    found = documents(metrics)
    assert [len(d["DeliveryLatency"]) for d in found] == [100, 100, 50]
    assert [d.get("DeliveriesSent") for d in found] == [250, None, None]
