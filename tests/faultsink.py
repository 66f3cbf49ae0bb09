"""A fault-injecting HTTP endpoint, run as its own process (so its answers are never late
because of the GIL of the process under test).

    python tests/faultsink.py LOGFILE SEED
prints its port on stdout, then serves. For each request it draws one outcome:
 70 % 200 (logged as delivered), 12 % 500, 8 % 429 with Retry-After: 1,
  4 % stall 1.5 s then 500 (the client's timeout is 1 s), 6 % connection reset.
LOGFILE gets one line per request: "<outcome> <path> <event message>".
"""

from __future__ import annotations

import json
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OUTCOMES = [("ok", 70), ("500", 12), ("429", 8), ("stall", 4), ("reset", 6)]


def main() -> None:
    log_path, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1)
    population = [name for name, weight in OUTCOMES for _ in range(weight)]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            message = json.loads(body)["message"]
            with lock:
                outcome = rng.choice(population)
                log.write(f"{outcome} {self.path} {message}\n")
            if outcome == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if outcome == "stall":
                time.sleep(1.5)
            status, headers = {"ok": (200, {}), "500": (500, {}), "429": (429, {"Retry-After": "1"}),
                               "stall": (500, {})}[outcome]
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
