"""Cost benchmark: the AWS bill of a month, from the calls both Lambda handlers really make.

Drives functions/receiver/app.py and functions/dispatcher/app.py on moto (tests/costrun.py:
the template's deployment, every feature on: dedup, ledger, status, EMF metrics, logs at
INFO) with EVENTS distinct events, each routed to 3 Providers (slack, msteams,
generic-hmac: real HTTP servers on 127.0.0.1), 200 clusters' tokens in the token secret and
250 Secrets stored. Every AWS request is counted by service and operation
(tests/awscalls.py, botocore's event hooks) in the units AWS bills, every byte the handlers
write to stdout is counted, every invocation is timed; then priced with bench/prices.json
(us-east-1 list prices, no free tier; its date and source are in the file).

    .venv/bin/python bench/cost.py [--events 300] [--markdown]

Assumptions (the scenarios):

* A: 1 M events a month; 4 Secrets (one per Provider, the token secret), 1 cluster.
  B: 100 events/s = 259.2 M a month; 250 Secrets read by the dispatcher + the token secret,
  the Provider Secrets where the template's default SecretStore keeps them (ssm: SecureString
  parameters, no storage charge, one KMS decrypt per read; the token secret in Secrets Manager),
  200 clusters. Every event goes to 3 Providers, none is a duplicate, every delivery succeeds
  at the first attempt (no follow-ups, no dead letters).
* Functions at the template's MemorySize defaults on x86_64 (arm64's price is shown beside);
  billed per started millisecond of the measured duration. The durations are measured on
  this machine (shared, loaded: an upper bound), each AWS request held AWS_MS before it is
  sent (an in-region round trip) and each provider answering after PROVIDER_MS; a cold
  first invocation is left out.
* Batches: A sees events minutes apart, so the SQS event source hands over one record per
  invocation; B hands over full batches of 10. Status is written once per invocation, so
  each scenario is priced with the DynamoDB units measured at its batch size. The event source's own SQS requests: one
  ReceiveMessage (per 64 KB of the batch) and one DeleteMessageBatch per invocation, and at
  A, 5 pollers' empty 20-second long polls the whole month.
* Warm environments: A 1 receiver and 1 dispatcher; B 10 receivers and 5 dispatchers (the
  template's MaximumConcurrency). Per environment: the token secret re-read every 300 s,
  the config marker every CONFIG_TTL (60 s, SSM: free), every Secret in use re-read every
  SECRETS_TTL (3600 s) as many times per Secret as measured in the first batch (concurrent
  records; at A one record at a time: once).
* Logs kept 30 days: a month's ingestion stored for a month (uncompressed: an upper bound);
  per invocation Lambda's START/END/REPORT lines, per request one API access log line (the
  template's format with typical values). EMF documents are logs too.
* API Gateway bills per request up to 512 KB: every event (at most MaxBodyBytes, 256 KB by
  default) is one. SSM standard parameters and their standard-throughput reads are free (the
  calls are counted all the same).
* Custom metrics: CloudWatch bills a metric for the hours it is sent in. The metrics this
  run sends (a healthy month: DeliveryLatency per provider type, which also counts them) are
  priced for the whole month; every other metric of the catalogue (fluxnotify/metrics.py
  with the 3 provider types, the 7 rejection reasons, 3 Alerts: failures, refusals, skips)
  for FAILURE_HOURS of it. The template's alarms, its dashboard and the alarm topic's KMS
  key (AlarmEmail set). DynamoDB storage, data transfer and X-Ray are left out.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "layers" / "notify")]

from fluxnotify.settings import Settings  # noqa: E402

MONTH = 30 * 24 * 3600
MB = 256
AWS_MS, PROVIDER_MS = 5.0, 100.0
TOKEN_TTL, CONFIG_TTL = 300, 60
SECRETS_TTL = 3600  # fluxnotify.settings' default
POLLERS, LONG_POLL = 5, 20
HOURS = MONTH / 3600
FAILURE_HOURS = 73  # a metric sent only when something fails or is refused: 10 % of the month's hours
PLATFORM_LINES = (  # what Lambda writes per invocation (text format)
    "START RequestId: 6f1c2b7e-3d4a-4b5c-8d9e-0a1b2c3d4e5f Version: $LATEST\n"
    "END RequestId: 6f1c2b7e-3d4a-4b5c-8d9e-0a1b2c3d4e5f\n"
    "REPORT RequestId: 6f1c2b7e-3d4a-4b5c-8d9e-0a1b2c3d4e5f\tDuration: 52.31 ms\tBilled Duration: 53 ms\t"
    "Memory Size: 256 MB\tMax Memory Used: 92 MB\t\n")
ACCESS_LOG_VALUES = {  # typical values of the access log's fields
    "requestId": "JmVgNj1zoAMEVXw=", "identity.sourceIp": "203.0.113.10", "requestTime": "07/Dec/2026:02:57:24 +0000",
    "httpMethod": "POST", "routeKey": "ANY /{token}", "status": "202", "responseLength": "52",
    "responseLatency": "61", "integrationErrorMessage": "-",
}
# The outside review's estimate of the code before issue 23's work (US$ a month), for comparison.
REVIEW = {"API Gateway HTTP API": (1.00, 259), "Lambda receiver": (0.45, 117), "Lambda dispatcher": (1.66, 86),
          "SQS": (1.46, 145), "DynamoDB status": (15.00, 3888), "DynamoDB ledger": (1.94, 502),
          "DynamoDB dedup": (1.38, 356), "Secrets": (1.77, 137), "CloudWatch Logs": (1.75, 330),
          "metrics, alarms, dashboard, key": (12.50, 12.50), "total": (39, 5850)}


@dataclass(frozen=True)
class Scenario:
    events: float
    secrets: int  # stored
    secrets_used: int  # read by each dispatcher environment
    batch: int
    receiver_envs: int
    dispatcher_envs: int
    idle_polling: bool


SCENARIOS = {
    "A": Scenario(1e6, secrets=4, secrets_used=3, batch=1, receiver_envs=1, dispatcher_envs=1, idle_polling=True),
    "B": Scenario(100 * MONTH, secrets=251, secrets_used=250, batch=10, receiver_envs=10, dispatcher_envs=5,
                  idle_polling=False),
}


def measure(events: int, singles: int = 20, aws_ms: float = AWS_MS, provider_ms: float = PROVIDER_MS) -> dict:
    """Per-event figures of one run: calls, billing units, log bytes, durations."""
    import costmemory
    import costrun

    singles = min(singles, events // 2)
    run = costrun.run(events, clusters=200, secrets=250, batch=10, singles=singles,
                      provider_ms=provider_ms, aws_ms=aws_ms)
    if run.delivered < 3 * events:
        raise RuntimeError(f"{run.delivered} deliveries of {3 * events}: {run.problems[:3]}")
    calls = run.calls
    # Per event: the dispatcher in batches of 10 ("dispatcher") and one record per invocation
    # ("dispatcher1") apart: status is written once per invocation, so its share differs.
    counted_events = {"receiver": events, "dispatcher": events - singles, "dispatcher1": singles}
    per_event = {phase: {f"{service} {operation}": n / counted_events[phase]
                         for (service, operation), n in sorted(calls.count(phase).items())}
                 for phase in counted_events if counted_events[phase]}
    units: dict[str, dict[str, float]] = {}  # records per invocation → "label unit" → units per event
    for batch, phase in (("10", "dispatcher"), ("1", "dispatcher1")):
        if not counted_events[phase]:
            continue
        units[batch] = {f"{label} {unit}": calls.units("receiver", service="dynamodb", label=label, unit=unit) / events
                        + calls.units(phase, service="dynamodb", label=label, unit=unit) / counted_events[phase]
                        for label in ("dedup", "ledger", "status") for unit in ("WRU", "RRU")}
    first = run.durations_ms["dispatcher"][0][0]  # the first batch: cold config and Secrets
    secret_reads = (calls.count("dispatcher")[("secretsmanager", "GetSecretValue")]
                    + calls.count("dispatcher", label="secret")[("ssm", "GetParameter")])
    batched = [ms for n, ms in run.durations_ms["dispatcher"][1:] if n == 10]
    alone = [ms for n, ms in run.durations_ms["dispatcher"] if n == 1]
    return {
        "events": events, "per_event": per_event, "dynamodb_units": units,
        "sqs_send_chunks": calls.units("receiver", service="sqs", operation="SendMessage") / events,
        "message_bytes": statistics.mean(run.message_bytes),
        "secret_reads_per_secret": secret_reads / run.secrets_used, "first_batch": first,
        "secret_store": Settings().secret_store,
        "receiver_ms": statistics.median(ms for _, ms in run.durations_ms["receiver"][1:]),
        "dispatcher_ms": {"10": statistics.median(batched), "1": statistics.median(alone) if alone else None},
        "log_bytes": {"receiver": run.log_bytes.get("receiver", 0) / events,
                      "dispatcher": run.log_bytes.get("dispatcher", 0) / (events - singles),
                      "dispatcher1": run.log_bytes.get("dispatcher1", 0) / singles if singles else None},
        "emf_seen": len(run.emf), "aws_ms": aws_ms, "provider_ms": provider_ms,
        # Peak RSS, MB, of each handler in a process of its own (tests/costmemory.py).
        "memory_mb": costmemory.measure(min(events, 100)),
    }


# --- pricing ----------------------------------------------------------------------------


def prices() -> dict:
    return json.loads((ROOT / "bench" / "prices.json").read_text())


def access_log_bytes() -> int:
    template = (ROOT / "template.yaml").read_text()
    block = re.search(r"Format: >-\n((?:\s{10}.*\n)+)", template).group(1)
    line = "".join(part.strip() for part in block.splitlines())
    return len(re.sub(r"\$context\.([\w.]+)", lambda m: ACCESS_LOG_VALUES.get(m.group(1), "-"), line)) + 1


def alarms_in_template() -> int:
    return (ROOT / "template.yaml").read_text().count("Type: AWS::CloudWatch::Alarm")


def metric_catalogue(provider_types: int = 3, alerts: int = 3) -> int:
    from fluxnotify.ingress.receiver import REJECTION_REASONS

    receiver = 1 + len(REJECTION_REASONS)  # Duplicate; Rejected per Reason
    # Per ProviderType: the latency (it counts deliveries), 4 failure and skip counts,
    # TemplateErrors; 3 without a dimension; DigestsDropped per Alert.
    dispatcher = 6 * provider_types + 3 + alerts
    return receiver + dispatcher


def memory_sizes() -> dict[str, int]:
    """The template's MemorySize defaults per function (ReceiverMemorySize, DispatcherMemorySize)."""
    template = (ROOT / "template.yaml").read_text()
    sizes = {}
    for function in ("receiver", "dispatcher"):
        found = re.search(rf"{function.capitalize()}MemorySize:\n(?:\s+.*\n)*?\s+Default: (\d+)", template)
        sizes[function] = int(found.group(1)) if found else MB
    return sizes


def lambda_cost(p: dict, invocations: float, ms: float, arch: str, mb: int = MB) -> float:
    return invocations * p["lambda_requests_per_million"] / 1e6 + (
        invocations * math.ceil(ms) / 1000 * mb / 1024 * p["lambda_gb_second"][arch])


def price(m: dict, s: Scenario, arch: str = "x86_64") -> dict[str, float]:
    p = prices()
    per_m = 1e6
    invocations = s.events / s.batch
    dispatcher_ms = m["dispatcher_ms"][str(s.batch)] or m["dispatcher_ms"]["10"]
    units = m["dynamodb_units"].get(str(s.batch)) or m["dynamodb_units"]["10"]

    def dynamodb(label: str) -> float:
        return s.events * (units[f"{label} WRU"] * p["dynamodb_wru_per_million"]
                           + units[f"{label} RRU"] * p["dynamodb_rru_per_million"]) / per_m

    batch_chunks = math.ceil(s.batch * m["message_bytes"] / (p["sqs_chunk_kb"] * 1024))
    sqs_requests = (s.events * m["sqs_send_chunks"] + invocations * (batch_chunks + 1)
                    + (POLLERS * MONTH / LONG_POLL if s.idle_polling else 0))
    rereads = m["secret_reads_per_secret"] if s.batch > 1 else 1
    token_reads = s.receiver_envs * MONTH / TOKEN_TTL  # Secrets Manager (CloudFormation generates it there)
    secret_reads = s.dispatcher_envs * MONTH / SECRETS_TTL * s.secrets_used * rereads
    if m["secret_store"] == "ssm":  # SecureString parameters: no storage charge, a KMS decrypt per read
        secrets = (p["secretsmanager_secret_month"] + token_reads * p["secretsmanager_per_10k_calls"] / 1e4
                   + secret_reads * p["kms_per_10k_requests"] / 1e4)
    else:
        secrets = (s.secrets * p["secretsmanager_secret_month"]
                   + (token_reads + secret_reads) * p["secretsmanager_per_10k_calls"] / 1e4)
    dispatcher_log = m["log_bytes"]["dispatcher"] if s.batch > 1 else m["log_bytes"]["dispatcher1"]
    log_bytes = s.events * (m["log_bytes"]["receiver"] + dispatcher_log + access_log_bytes()) + (
        (s.events + invocations) * len(PLATFORM_LINES))
    log_gb = log_bytes / 1024**3
    always, sometimes = m["emf_seen"], metric_catalogue() - m["emf_seen"]
    metrics = (always + sometimes * FAILURE_HOURS / HOURS) * p["custom_metric_month"]
    fixed = metrics + alarms_in_template() * p["alarm_month"] + p["dashboard_month"] + p["kms_key_month"]
    lines = {
        "API Gateway HTTP API": s.events * p["apigateway_http_per_million"] / per_m,
        "Lambda receiver": lambda_cost(p, s.events, m["receiver_ms"], arch, memory_sizes()["receiver"]),
        "Lambda dispatcher": lambda_cost(p, invocations, dispatcher_ms, arch, memory_sizes()["dispatcher"]),
        "SQS": sqs_requests * p["sqs_standard_per_million"] / per_m,
        "DynamoDB status": dynamodb("status"),
        "DynamoDB ledger": dynamodb("ledger"),
        "DynamoDB dedup": dynamodb("dedup"),
        "Secrets": secrets,
        "CloudWatch Logs": log_gb * (p["logs_ingested_gb"] + p["logs_stored_gb_month"]),
        "metrics, alarms, dashboard, key": fixed,
    }
    lines["total"] = sum(lines.values())
    return lines


def report(m: dict) -> dict:
    a, b = price(m, SCENARIOS["A"]), price(m, SCENARIOS["B"])
    arm = {name: price(m, s, "arm64")["total"] for name, s in SCENARIOS.items()}
    return {"measured": m, "A": a, "B": b, "arm64_total": arm,
            "per_million_B": b["total"] / (SCENARIOS["B"].events / 1e6), "markdown": markdown(m, a, b, arm)}


def markdown(m: dict, a: dict, b: dict, arm: dict) -> str:
    p = prices()
    out = [f"Monthly cost, US$ ({p['region']} list prices of {p['date']}, bench/prices.json; assumptions in "
           "bench/cost.py), from one run of "
           f"{m['events']} events × 3 Providers through both handlers on moto:", "",
           "| item | A: 1 M events/month | B: 100 events/s, 250 Secrets, 200 clusters | review A | review B |",
           "|---|---:|---:|---:|---:|"]
    for item in a:
        ra, rb = (f"{REVIEW[item][0]:,.2f}", f"{REVIEW[item][1]:,.0f}") if item in REVIEW else ("", "")
        label = f"**{item}**" if item == "total" else item
        out.append(f"| {label} | {a[item]:,.2f} | {b[item]:,.0f} | {ra} | {rb} |")
    out += ["", f"On arm64: A {arm['A']:,.2f}, B {arm['B']:,.0f}. "
            f"B per million events: {b['total'] / 259.2:,.2f}.", "", "Per event (measured):", "",
            "| function | AWS requests per event |", "|---|---|"]
    shown = {"dispatcher": "dispatcher, batches of 10", "dispatcher1": "dispatcher, 1 record per invocation"}
    for phase, calls in m["per_event"].items():
        out.append(f"| {shown.get(phase, phase)} | " + ", ".join(f"{op} {n:g}" for op, n in calls.items()) + " |")
    units = "; ".join(f"{n} record{'s' if n != '1' else ''} per invocation: "
                      + ", ".join(f"{k} {v:g}" for k, v in by_unit.items() if v)
                      for n, by_unit in m["dynamodb_units"].items())
    logs = m["log_bytes"]
    dispatcher1 = f"{logs['dispatcher1']:.0f}" if logs["dispatcher1"] is not None else "–"
    out += ["", f"- DynamoDB units per event: {units}.",
            f"- Secrets: the template's default SecretStore `{m['secret_store']}` (the webhook token in "
            f"Secrets Manager); first dispatcher batch (10 records, cold): {m['secret_reads_per_secret']:g} "
            "read per Secret.",
            f"- Durations (median, warm): receiver {m['receiver_ms']:.0f} ms; dispatcher batch of 10 "
            f"{m['dispatcher_ms']['10']:.0f} ms, of 1 {m['dispatcher_ms']['1'] or 0:.0f} ms "
            f"(AWS requests held {m['aws_ms']:g} ms, providers answering in {m['provider_ms']:g} ms).",
            f"- Log bytes per event: receiver {logs['receiver']:.0f}, dispatcher {logs['dispatcher']:.0f} "
            f"(batches of 10) / {dispatcher1} (one record per invocation); access log {access_log_bytes()} "
            f"per request; Lambda platform lines {len(PLATFORM_LINES)} per invocation.",
            f"- Custom metrics: {metric_catalogue()} in the catalogue, {m['emf_seen']} sent in this run "
            f"(priced for the month; the others for {FAILURE_HOURS} hours); {alarms_in_template()} alarms.",
            f"- Peak memory (tests/costmemory.py: each handler in a process of its own, AWS outside it): "
            f"receiver {m['memory_mb']['receiver']:.0f} MB, dispatcher {m['memory_mb']['dispatcher']:.0f} MB; "
            f"priced at the template's MemorySize: receiver {memory_sizes()['receiver']} MB, "
            f"dispatcher {memory_sizes()['dispatcher']} MB."]
    return "\n".join(out)


def run(repeats: int = 1, events: int = 300) -> dict:
    """For bench/run.py: one run (the counts do not vary; the durations are medians already)."""
    return report(measure(events))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--json", action="store_true", help="print the measured figures as JSON too")
    args = parser.parse_args()
    result = report(measure(args.events))
    print(result["markdown"])
    if args.json:
        print(json.dumps(result["measured"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
