"""A small HTTP/1.1 keep-alive load generator (asyncio, run as its own process).

Closed loop: `--concurrency C` connections each send the next request as soon as
the previous answer arrived, for `--duration` seconds (after `--warmup` seconds
that are not counted). Open loop: `--rate R` requests/s scheduled at fixed times
over a pool of connections; latency counts from the scheduled time, so a slow
server cannot hide its queueing (no coordinated omission).

The body is read from `--body`; every occurrence of @@N@@ is replaced by the
request number, so each event is distinct. Prints one JSON object: requests,
answers per status, accepted per second (2xx), latency p50/p99 in ms, and with
`--send-times` the [number, monotonic send time] of every request.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
import urllib.parse

MARKER = b"@@N@@"


class Target:
    def __init__(self, url: str, body: bytes, first: int):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.path = parts.path or "/"
        self.body = body
        self.numbers = itertools.count(first)

    def request(self) -> tuple[int, bytes]:
        n = next(self.numbers)
        body = self.body.replace(MARKER, str(n).encode())
        head = (f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        return n, head.encode() + body


class Connection:
    def __init__(self, target: Target):
        self.target = target
        self.reader = self.writer = None

    async def exchange(self, payload: bytes) -> int:
        """Send one request, return the status; reconnects when the server closed."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.target.host, self.target.port)
        self.writer.write(payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        if length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Results:
    def __init__(self):
        self.latencies: list[float] = []
        self.statuses: dict[str, int] = {}
        self.sends: list[tuple[int, float]] = []
        self.errors = 0

    def add(self, status: int, seconds: float) -> None:
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        self.latencies.append(seconds)


async def closed_loop(target: Target, concurrency: int, warmup: float, duration: float) -> tuple[Results, float]:
    results = Results()
    start = time.monotonic()
    measure_from, end = start + warmup, start + warmup + duration

    async def client() -> None:
        connection = Connection(target)
        while (now := time.monotonic()) < end:
            _, payload = target.request()
            try:
                status = await connection.exchange(payload)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                results.errors += 1
                connection.close()
                continue
            if now >= measure_from:
                results.add(status, time.monotonic() - now)
        connection.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return results, duration


async def open_loop(target: Target, rate: float, duration: float, pool_size: int) -> tuple[Results, float]:
    results = Results()
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(pool_size):
        idle.put_nowait(Connection(target))
    start = time.monotonic() + 0.05
    total = int(rate * duration)

    async def one(scheduled: float) -> None:
        n, payload = target.request()
        results.sends.append((n, scheduled))
        connection = await idle.get()
        try:
            status = await connection.exchange(payload)
            results.add(status, time.monotonic() - scheduled)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            results.errors += 1
            connection.close()
        finally:
            idle.put_nowait(connection)

    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.monotonic()))
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return results, time.monotonic() - start


def summary(results: Results, seconds: float, with_sends: bool) -> dict:
    ordered = sorted(results.latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))] * 1000 if ordered else 0.0

    accepted = sum(v for k, v in results.statuses.items() if k.startswith("2"))
    out = {
        "requests": len(ordered), "statuses": results.statuses, "errors": results.errors,
        "seconds": seconds, "accepted_per_s": accepted / seconds, "p50_ms": pct(50), "p99_ms": pct(99),
    }
    if with_sends:
        out["sends"] = results.sends
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", help="file with the request body (@@N@@ → request number)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, help="open loop at this many requests/s")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--send-times", action="store_true")
    parser.add_argument("--first", type=int, default=time.time_ns() // 1000,
                        help="number of the first request (default: now in µs, so runs never repeat)")
    args = parser.parse_args()
    body = open(args.body, "rb").read() if args.body else b"{}"
    target = Target(args.url, body, args.first)
    if args.rate:
        results, seconds = asyncio.run(open_loop(target, args.rate, args.duration, args.concurrency))
    else:
        results, seconds = asyncio.run(closed_loop(target, args.concurrency, args.warmup, args.duration))
    print(json.dumps(summary(results, seconds, args.send_times)))


if __name__ == "__main__":
    main()
