"""The CloudWatch dashboard in template.yaml: valid JSON once CloudFormation substitutes it,
and its widgets show the metrics fluxnotify emits (metrics.py, README's metrics table)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cfnlint.decode.cfn_yaml import load

ROOT = Path(__file__).resolve().parents[2]
WANTED = {  # issue 16: events refused, deliveries by type and outcome, latency, dead letters; the failure counters
    "EventsDuplicate", "EventsRejected", "DeliveriesSkipped",
    "DeliveriesFailed", "DeliveriesRetried", "DeliveriesDeadLettered", "DeliveryLatency",
    "StatusWriteFailed", "LedgerWriteFailed", "ConfigRefreshFailed", "TemplateErrors", "DigestsDropped",
}


def template() -> dict:
    return load(str(ROOT / "template.yaml"))


def substituted(text: str) -> str:
    """What Fn::Sub makes of the body: ${X} → a value, ${!X} → ${X}."""
    text = re.sub(r"\$\{(?!!)[^}]+\}", "sub-value", text)
    return text.replace("${!", "${")


def dashboard() -> dict:
    resource = template()["Resources"]["StatusDashboard"]
    assert resource["Type"] == "AWS::CloudWatch::Dashboard"
    return json.loads(substituted(resource["Properties"]["DashboardBody"]["Fn::Sub"]))


def referenced(widget: dict) -> list[tuple[str, str]]:
    """(namespace, metric name) of every metric row and SEARCH expression of a widget."""
    found = []
    for row in widget["properties"]["metrics"]:
        if isinstance(row[0], dict):
            expression = row[0]["expression"]
            namespace = re.search(r"\{([^,}]+)", expression).group(1)
            found += [(namespace, name) for name in re.findall(r'MetricName="(\w+)"', expression)]
        else:
            found.append((row[0], row[1]))
    return found


def emitted_names() -> set[str]:
    text = (ROOT / "layers/notify/fluxnotify/metrics.py").read_text() + (ROOT / "README.md").read_text()
    return set(re.findall(r"``?([A-Z][A-Za-z]+)``?", text))


def test_dashboard_shows_every_wanted_fluxnotify_metric():
    widgets = dashboard()["widgets"]
    ours = {name for widget in widgets for namespace, name in referenced(widget) if namespace == "fluxnotify"}
    assert ours == WANTED, ours ^ WANTED  # every metric fluxnotify emits is read here (issue 23: no other)
    assert ours <= emitted_names(), "the dashboard names a metric fluxnotify does not emit"


def test_every_metric_the_code_emits_is_on_the_dashboard():
    """A metric costs $0.30 a month in every hour it is sent: none that nothing reads."""
    package = ROOT / "layers/notify/fluxnotify"
    code = "\n".join(path.read_text() for path in package.rglob("*.py"))
    emitted = set(re.findall(r'\.count\("([A-Z]\w+)"', code)) | set(re.findall(r'milliseconds\("([A-Z]\w+)"', code))
    emitted |= set(re.findall(r'"(Deliveries\w+)"', (package / "errors.py").read_text()))
    assert emitted == WANTED, emitted ^ WANTED


def test_requests_and_queued_events_come_from_aws_metrics():
    widgets = {w["properties"]["title"]: w for w in dashboard()["widgets"]}
    events = referenced(widgets["Events received, queued and refused"])
    assert ("AWS/ApiGateway", "Count") in events and ("AWS/SQS", "NumberOfMessagesSent") in events


def test_dashboard_has_latency_percentiles_dead_letters_and_queue_age():
    widgets = {w["properties"]["title"]: w for w in dashboard()["widgets"]}
    latency = json.dumps(widgets["Delivery latency p50 / p99 (ms)"])
    assert "'p50'" in latency and "'p99'" in latency
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible") in referenced(widgets["Dead letters"])
    queue = next(w for title, w in widgets.items() if "oldest message" in title)
    assert ("AWS/SQS", "ApproximateAgeOfOldestMessage") in referenced(queue)
    by_outcome = json.dumps(widgets["Deliveries by provider type and outcome"])
    assert "{fluxnotify,ProviderType}" in by_outcome and "Dim.ProviderType" in by_outcome
    # delivered: the number of DeliveryLatency values (one per delivery), not a metric of its own
    assert "MetricName=\\\"DeliveryLatency\\\"', 'SampleCount'" in by_outcome
    for widget in widgets.values():  # grid of 24 columns, every widget with a region
        assert widget["x"] + widget["width"] <= 24 and widget["properties"]["region"] == "sub-value"


def test_dashboard_body_substitutes_only_known_names():
    body = template()["Resources"]["StatusDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{(?!!)([^}]+)\}", body))
    assert names == {"AWS::Region", "EventsDLQ.QueueName", "EventsQueue.QueueName", "HttpApi"}


def test_dashboard_url_is_an_output():
    output = template()["Outputs"]["StatusDashboardUrl"]["Value"]["Fn::Sub"]
    assert "#dashboards:name=${StatusDashboard}" in output and "region=${AWS::Region}" in output
