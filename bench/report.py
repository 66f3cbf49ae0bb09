"""Renders the results of bench/run.py as BENCHMARKS.md (Markdown tables, targets met or missed)."""

from __future__ import annotations


def render(results: dict[str, dict], machine: dict) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/run.py`); do not edit by hand. Numbers are medians of",
        f"{machine['repeats']} runs measured side by side in one run on this machine:",
        "",
        f"- {machine['cpus']} CPUs, Python {machine['python']}, {machine['platform']}",
        f"- {machine['date']}, whole run {machine['minutes']:.1f} min",
        "",
        "| # | benchmark | figure | target | met |",
        "|---|---|---|---|---|",
    ]
    for name, rows in ROWS.items():
        if name in results:
            lines += rows(results[name]) if "error" not in results[name] else [
                f"| | {name} | error: {results[name]['error']} | | – |"]
    lines += ["", *DETAILS(results), *ingest_profile(results.get("ingest", {})), *cost_section(results.get("cost", {})),
              *missed_notes(lines, results), ""]
    return "\n".join(lines)


# What profiling found for targets this machine misses, and what meeting them would take.
# Shown only for a benchmark whose row says "no" in this run.
WHY_MISSED = {
    "ingest": (
        "Ingest (the CPU per event in row 4 and the py-spy profile above): every event costs the "
        "receiver about 300–360 µs of CPU (HTTP on asyncio streams, where the one send() per answer "
        "is about 45 % of its samples on this VM, then event validation, the duplicate key and the "
        "group-committed SQLite writes), the dispatcher process "
        "about 750–850 µs (over half of it urllib3/http.client sending to the sink, then planning, "
        "rendering and encoding, one ledger write per message), the sink about 75 µs and wrk about "
        "40 µs: about 1.2 ms per event, so two idle cores would carry at most about 1,700 events/s "
        "accepted and delivered, and fewer while other work runs on the machine (the load average "
        "in the row). SQLite is no longer what holds delivery back (before this round the "
        "dispatcher delivered 60–160 events/s during the load, its writes waiting on the receiver's "
        "lock): the receiver parses outside its group-commit transaction, both processes poll for "
        "the write lock, the dispatcher takes 25 messages per transaction and writes status once per "
        "batch, checkpoints run in their own thread; a backlog beyond --max-backlog is refused with "
        "503 and Retry-After. Meeting the target would take a third core, or the dispatcher's CPU "
        "per delivery down to about 400 µs (the delivery core's per-delivery work, which the "
        "dispatcher benchmark measures, and a cheaper HTTP client than urllib3 for plain webhooks) "
        "and a C HTTP parser for the receiver."
    ),
    "dispatch vs bare urllib3": (
        "Dispatch vs bare urllib3: in the handler's CPU profile (below) most of a delivery is "
        "urllib3 and http.client, as for bare urllib3 (the transport skips PoolManager's URL "
        "parsing, about 25 µs under bare urllib3's request). The rest, measured one part at a time "
        "while issue 27 was worked on: per message, recording its status for the batch "
        "(`state/status_batch.py` `record` → `state/status.py` `outcomes_of`) ≈ 40 µs, the event's "
        "Go-JSON ≈ 25 µs, decoding the event ≈ 17 µs, the report (tally, metrics) ≈ 20 µs, routing "
        "≈ 9 µs; per delivery, planning ≈ 20 µs and the encode/send steps ≈ 15 µs; per invocation "
        "≈ 0.35 ms (Powertools' context, the records' hand-off, the summary line) and the status "
        "merge ≈ 0.3 ms. Altogether the handler adds about 85 µs of CPU per delivery to what bare "
        "urllib3 spends (300–530 µs, with the machine's state): 0.77–0.84× measured; a steady 0.85× "
        "would take about 30 µs less per delivery: a cheaper status "
        "record (issue 23's module), fewer Python steps in planning (stages that cannot apply "
        "skipped per Alert), or an HTTP client without http.client's header parsing."
    ),
    "dispatch vs Apprise": (
        "Dispatch vs Apprise: Apprise is CPU-bound (its CPU per notification is in the row; ten "
        "threads calling notify() barely change its rate), and its figure moves most with the "
        "machine's load, so this ratio swings between runs (2.9–3.9× while issue 27 was worked "
        "on). The row gives bare urllib3's own ratio to Apprise in the same run (3.4–3.7× in this "
        "round's runs; the issue measured 3.5×): 3.5× asks the handler to deliver at 95–100 % of "
        "the bare client it is built on, where its own work per delivery (planning, rendering, "
        "status, the report) already costs more than 5 %. It would take a cheaper HTTP client "
        "than urllib3/http.client for plain webhooks (their header parsing through the email "
        "package is a sixth of a delivery, see the profile)."
    ),
    "cost at fleet scale": (
        "Cost: DynamoDB status transactions (24 write units per event) are most of B; then "
        "API Gateway, the dispatcher's Lambda time, the ledger and dedup writes, SQS and logs. "
        "The per-item breakdown and what each change would save: docs/delivery.md, issue 23."
    ),
    "dispatcher handler import": (
        "Dispatcher import (`-X importtime`, the modules costing most themselves below): "
        "Powertools' Logger, urllib3, logging and the dataclasses of the delivery core (each costs "
        "its generated methods); pydantic is no longer imported. Going further would take fewer "
        "dataclasses on the import path or a lighter logger than Powertools'."
    ),
}


def cost_section(r: dict) -> list[str]:
    """The cost benchmark's own table (bench/cost.py), line item by line item."""
    return ["", "## Cost (bench/cost.py)", "", r["markdown"]] if "markdown" in r else []


def missed_notes(lines: list[str], results: dict[str, dict]) -> list[str]:
    missed = [line for line in lines if line.startswith("|") and line.rstrip().endswith("**no** |")]
    keys = [key for key in WHY_MISSED if any(key in line for line in missed)]
    if not keys:
        return []
    out = ["", "## Targets missed: why, and what it would take", "", *(f"- {WHY_MISSED[key]}" for key in keys)]
    return out + missed_profiles(keys, results)


def missed_profiles(keys: list[str], results: dict[str, dict]) -> list[str]:
    """The profiles that show why, measured in this run."""
    out = []
    profile = results.get("dispatch", {}).get("profile")
    if profile and any(key.startswith("dispatch") for key in keys):
        out += ["", "Dispatch through the handler, CPU profile (cProfile on every thread's CPU clock, "
                "top functions by cumulative time; the profiler's own cost inflates every figure alike):", "",
                "| function | calls | cumulative µs per delivery | own µs per delivery |", "|---|---|---|---|"]
        out += [f"| `{name}` | {calls} | {cumulative:.0f} | {own:.0f} |" for name, calls, cumulative, own in profile]
    top = results.get("cold_start", {}).get("top_self")
    if top and "dispatcher handler import" in keys:
        out += ["", "Dispatcher import, the modules costing most themselves (`-X importtime`, ms): "
                + ", ".join(f"`{name}` {ms:.1f}" for name, ms in top) + "."]
    return out


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def cold_start_rows(r: dict) -> list[str]:
    ms = r["import_ms"]
    heavy = ", ".join(r["loaded"]) or "none"
    return [
        f"| 1 | cold start | receiver handler import {ms['receiver']:.0f} ms = **{r['receiver_vs_boto3']:.2f}×** "
        f"`import boto3` ({ms['boto3']:.0f} ms) | ≤ 0.8× | {_met(r['receiver_vs_boto3'] <= 0.8)} |",
        f"| 1 | cold start | dispatcher handler import {ms['dispatcher']:.0f} ms = "
        f"**{r['dispatcher_vs_boto3']:.2f}×** `import boto3`{_load(r)} | ≤ 1.0× | {_met(r['dispatcher_vs_boto3'] <= 1.0)} |",
        f"| 1 | cold start | heavy modules loaded after dispatcher import + slack/generic render: {heavy} "
        f"| none of azure.eventhub, celpy | {_met(not r['loaded'])} |",
    ]


def ingest_rows(r: dict) -> list[str]:
    rows = []
    for concurrency, m in r.items():
        concurrency = int(concurrency)
        if concurrency > 8:
            ok, target = m["p99_ms"] < 100, "p99 < 100 ms"
        else:
            ok, target = ingest_met(m), "≥ 2,000/s accepted and delivered, backlog ≤ 2 s, drained ≤ 2 s, p99 < 25 ms"
        refused = {k: v for k, v in m["statuses"].items() if k != "202"}
        extra = f" (non-202: {refused}, errors {m['errors']})" if refused or m["errors"] else ""
        cpu = m.get("cpu_percent", {})
        split = ", ".join(f"{name} {pct:.0f} %" for name, pct in cpu.items())
        per_event = ", ".join(f"{name} {us:.0f} µs" for name, us in m.get("cpu_us_per_event", {}).items())
        drain = f"{m['drain_s']:.1f} s" if m.get("drain_s") is not None else "not within 30 s"
        load = ""
        if "loadavg_before" in m:
            load = (f"; machine load average before {m['loadavg_before'][0]:.2f}, "
                    f"after {m['loadavg_after'][0]:.2f} (2 cores)")
        rows.append(
            f"| 4 | ingest, concurrency {concurrency} ({m.get('generator', 'loadgen')}) | "
            f"**{m['events_per_s']:.0f} accepted/s, {m.get('delivered_per_s', 0):.0f} delivered/s** over the same "
            f"run; backlog at most {m.get('max_backlog', 0)} events = **{m.get('max_backlog_s', 0):.1f} s** of load, "
            f"drained **{drain}** after it; p50 {m['p50_ms']:.1f} ms, p99 **{m['p99_ms']:.1f} ms**{extra}; "
            f"cores during the load: {split}; CPU per event (load and drain): {per_event}{load} "
            f"| {target} | {_met(ok)} |")
    peak = max((m.get("peak_rss_mb", 0) for m in r.values()), default=0)
    if peak:
        rows.append(f"| 5 | serve RSS in total (receiver + dispatcher, peak during 4) | **{peak:.0f} MB** "
                    f"| < 100 MB | {_met(peak < 100)} |")
    return rows


def _load(r: dict) -> str:
    """The machine's load average while it ran (its other work weighs on every figure)."""
    load = r.get("load")
    if not load:
        return ""
    return f" (load {min(load):.1f}–{max(load):.1f})" if isinstance(load, list) else f" (load {load:.1f})"


def ingest_met(m: dict) -> bool:
    drained = m.get("drain_s") is not None and m["drain_s"] <= 2.0
    return (m["events_per_s"] >= 2000 and m.get("delivered_per_s", 0) >= 2000 and m["p99_ms"] < 25
            and m.get("max_backlog_s", float("inf")) <= 2.0 and drained)


_FRAMEWORK = ("(threading.py)", "(asyncio/base_events.py)", "(asyncio/events.py)")  # on every stack


def ingest_profile(r: dict) -> list[str]:
    """py-spy's top functions in serve's two processes, when the concurrency-8 target was missed."""
    profile = next((m["profile"] for m in r.values() if isinstance(m, dict) and "profile" in m), None)
    if not profile:
        return []
    out = ["", "## Ingest profile (py-spy, concurrency 8, target missed)", "",
           "Share of samples in which a function was on the stack (cumulative) or running itself (self);",
           "threads waiting idle are not sampled.", ""]
    for process, p in profile.items():
        if "error" in p:
            out.append(f"- {process}: {p['error']}")
            continue
        cumulative = ", ".join(f"`{name}` {pct:.0f} %" for name, pct in p["cumulative"]
                               if not name.endswith(_FRAMEWORK))
        own = ", ".join(f"`{name}` {pct:.0f} %" for name, pct in p["self"])
        out += [f"- {process} ({p['samples']} samples): cumulative {cumulative}.", f"  Self: {own}."]
    return out


def dispatch_rows(r: dict) -> list[str]:
    rows = []
    if "fluxnotify_vs_urllib3" in r:
        rows.append(
            f"| 3 | dispatch vs bare urllib3 (through the handler), concurrency {r['batch']} | "
            f"{r['fluxnotify_per_s']:.0f} vs {r['urllib3_per_s']:.0f} deliveries/s = **{r['fluxnotify_vs_urllib3']:.2f}×** "
            f"(CPU per delivery {r['fluxnotify_cpu_us']:.0f} vs {r['urllib3_cpu_us']:.0f} µs = "
            f"{r.get('cpu_ratio', 0):.2f}×){_load(r)} | ≥ 0.85× | {_met(r['fluxnotify_vs_urllib3'] >= 0.85)} |")
    if "fluxnotify_vs_apprise" in r:
        rows.append(
            f"| 3 | dispatch vs Apprise {r['apprise_version']} | {r['fluxnotify_per_s']:.0f} vs "
            f"{r['apprise_per_s']:.0f} deliveries/s = **{r['fluxnotify_vs_apprise']:.1f}×** (CPU per delivery "
            f"{r['fluxnotify_cpu_us']:.0f} vs {r.get('apprise_cpu_us', 0):.0f} µs); bare urllib3 itself "
            f"{r['urllib3_per_s'] / r['apprise_per_s']:.1f}× Apprise{_load(r)} | ≥ 3.5× | "
            f"{_met(r['fluxnotify_vs_apprise'] >= 3.5)} |")
    else:
        rows.append("| 3 | dispatch vs Apprise | Apprise could not be installed | ≥ 3.5× | – |")
    rows.append(
        f"| 3 | dispatch vs sink capacity | {r['fluxnotify_per_s']:.0f} vs {r['sink_per_s']:.0f} requests/s = "
        f"**{r['fluxnotify_vs_sink']:.0%}** (context: a C-speed sink, not a target) | – | – |")
    rows.append(
        f"| 5 | dispatcher peak RSS (during 3) | **{r['fluxnotify_peak_rss_mb']:.0f} MB**"
        + (f" (Apprise: {r['apprise_peak_rss_mb']:.0f} MB)" if "apprise_peak_rss_mb" in r else "")
        + f" | < 80 MB | {_met(r['fluxnotify_peak_rss_mb'] < 80)} |")
    return rows


def lambda_batch_rows(r: dict) -> list[str]:
    note = f" ({r['failures']} batch item failures)" if r["failures"] else ""
    return [f"| 1 | Lambda batch, {r['records']} records × {r['providers']} providers at {r['delay_ms']} ms | "
            f"{r['batch_ms']:.0f} ms vs one provider latency {r['ideal_ms']:.0f} ms = **{r['ratio']:.2f}×** "
            f"({r['deliveries_per_s']:.0f} deliveries/s){note} | ≤ 1.5× | {_met(r['ratio'] <= 1.5 and not r['failures'])} |"]


def e2e_rows(r: dict) -> list[str]:
    lost = r["expected"] - r["delivered"]
    note = f" ({lost} of {r['expected']} deliveries not seen)" if lost else ""
    return [
        f"| 4 | end to end at {r['rate']}/s | p50 **{r['p50_ms']:.1f} ms**, p99 **{r['p99_ms']:.1f} ms**{note} "
        f"| p50 < 50 ms, p99 < 250 ms | {_met(r['p50_ms'] < 50 and r['p99_ms'] < 250 and not lost)} |"
    ]


def size_rows(r: dict) -> list[str]:
    if not r.get("built"):
        return [f"| 5 | layer size | {r['note']} | < 10 MB zipped | – |"]
    return [f"| 5 | NotifyLayer size | **{r['zipped_mb']:.1f} MB zipped**, {r['unzipped_mb']:.1f} MB unzipped "
            f"| < 10 MB zipped | {_met(r['zipped_mb'] < 10)} |"]


def cost_rows(r: dict) -> list[str]:
    a, b = r["A"]["total"], r["B"]["total"]
    return [f"| 6 | cost at fleet scale (table below) | A (1 M events/month) **${a:,.2f}**, B (100 events/s) "
            f"**${b:,.0f}** a month = ${r['per_million_B']:,.2f} per million events | A ≤ $15, B ≤ $1,000 "
            f"| {_met(a <= 15 and b <= 1000)} |"]


ROWS = {"lambda_batch": lambda_batch_rows, "cold_start": cold_start_rows, "ingest": ingest_rows,
        "dispatch": dispatch_rows, "e2e": e2e_rows, "size": size_rows, "cost": cost_rows}


def DETAILS(results: dict[str, dict]) -> list[str]:  # noqa: N802
    out = ["## Details", ""]
    r = results.get("cold_start", {})
    if "import_ms" in r:
        top = ", ".join(f"`{name}` {ms:.0f} ms" for name, ms in r["top_fluxnotify"])
        out += [f"- Cold start: fresh interpreter per case, wall time minus a bare interpreter "
                f"({r['interpreter_ms']:.0f} ms), {r['runs']} interleaved runs, Python 3.12, the built "
                f"layer read-only ({r.get('files_written_to_layer', '?')} files written) before the "
                f"runtime's boto3 {r.get('runtime_sdk', {}).get('boto3', '?')}. Largest of our imports "
                f"(cumulative, `-X importtime` of the dispatcher handler): {top}.", ""]
    out += [
        "- Ingest: `fluxnotify serve` (subprocess, dedup on, every event distinct, its dispatcher",
        "  process delivering to the sink meanwhile) driven by wrk (`bench/wrk_post.lua`, keep-alive,",
        "  closed loop, 2 threads) on the same machine, each run from an empty queue. Accepted = rows",
        "  committed in serve's dedup table, delivered = the sink's arrivals, both sampled every 100 ms",
        "  (`bench/backlog.py`); the backlog is their difference, in seconds of the accepted rate; the",
        "  drain is the time from the end of the load until every accepted event reached the sink.",
        "  Cores: CPU time of each process during the load in % of one core (the rest of the 2 cores",
        "  went to wrk and to whatever else ran); CPU per event: over the load and the drain.",
        "- Lambda batch: `bench/lambda_batch.py`, the handler's BatchRunner → Dispatcher on a sink answering",
        "  after 100 ms; the ideal is one request to that sink, measured alternately in the same process.",
        "- Dispatch: `functions/dispatcher/app.py`'s handler as deployed (Powertools Logger at INFO, EMF",
        "  metrics, one summary line per invocation) on SQS batches of 10 records, 600 distinct events ×",
        "  4 generic Providers read from stored configuration (in-memory SSM, queues and state);",
        "  bare urllib3 sends the same POSTs from 10 threads sharing one PoolManager; Apprise sends the",
        "  same number of `json://` notifications from 10 threads; all to the same `bench/sink.py` process, in an order",
        "  alternating between rounds, with the load average of each run; the sink's raw capacity is",
        "  measured by the load generator with 16 keep-alive connections.",
        "- End to end: open-loop load (latency counts from the scheduled send), each event routed to a",
        "  generic and a slack Provider; latency = sink arrival − scheduled POST, per delivery.",
    ]
    r = results.get("size", {})
    if r.get("largest"):
        out.append("- Layer: largest packages (unzipped MB): "
                   + ", ".join(f"{name} {mb:.1f}" for name, mb in r["largest"]) + ".")
    return out
