"""A fast HTTP/1.1 keep-alive sink standing in for Slack/webhooks (run as its own process).

asyncio Protocol, no framework: every request is answered `200` with an empty body.
`GET /__stats` returns `{"count": N}` (requests other than /__stats), and with
`--record` also `"records": [[marker, monotonic_seconds], ...]`, where marker is
the number after `bench-id:` in the body (the end-to-end benchmark's clock: Linux
CLOCK_MONOTONIC is shared by every process on the machine).

    python bench/sink.py --port 9393 [--record] [--delay-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
MARKER = re.compile(rb"bench-id:(\d+)")


class Sink(asyncio.Protocol):
    count = 0
    records: list[tuple[int, float]] = []
    record = False
    delay = 0.0  # seconds before each answer (--delay-ms: a provider as slow as Slack)

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self._one_request():
            pass

    def _one_request(self) -> bool:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        head = self.buffer[:head_end]
        length = _content_length(head)
        end = head_end + 4 + length
        if len(self.buffer) < end:
            return False
        body, self.buffer = self.buffer[head_end + 4 : end], self.buffer[end:]
        self._answer(head, body)
        return True

    def _answer(self, head: bytes, body: bytes) -> None:
        if head.startswith(b"GET /__stats"):
            stats = {"count": Sink.count, "records": Sink.records if Sink.record else []}
            payload = json.dumps(stats).encode()
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
            return
        Sink.count += 1
        if Sink.record:
            found = MARKER.search(body)
            if found:
                Sink.records.append((int(found.group(1)), time.monotonic()))
        if Sink.delay:
            asyncio.get_running_loop().call_later(Sink.delay, self._late_answer)
        else:
            self.transport.write(OK)

    def _late_answer(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(OK)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Sink, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    Sink.record = args.record
    Sink.delay = args.delay_ms / 1000
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
