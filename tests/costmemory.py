"""Peak memory of each Lambda handler under the cost benchmark's load, AWS outside its process.

The deployment is costrun's (every feature on, 3 Providers on an HTTP server on 127.0.0.1),
on a moto server in this process (127.0.0.1, port 0). A fresh child Python — nothing in it
but what a Lambda environment holds: the handler, its layer, boto3 — loads the receiver,
posts the events and records its peak resident memory (``VmHWM``); then loads the dispatcher,
hands it the queue in batches of 10 and records the peak again. The receiver's figure is a
process that ran only the receiver; the dispatcher's one that ran both (an upper bound).
Lambda's own runtime adds a few MB to what a plain Python process shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

CHILD = r"""
import importlib.util, json, sys, time
requests_file, batch = sys.argv[1], int(sys.argv[2])

def peak_mb():
    return [int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]

def load(name):
    spec = importlib.util.spec_from_file_location(name + "_app", f"functions/{name}/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

class Context:
    function_name, memory_limit_in_mb, aws_request_id = "fluxnotify", 256, "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:fluxnotify"
    def __init__(self):
        self.ends = time.monotonic() + 120
    def get_remaining_time_in_millis(self):
        return int((self.ends - time.monotonic()) * 1000)

receiver = load("receiver")
for event in json.load(open(requests_file)):
    assert receiver.lambda_handler(event, Context())["statusCode"] == 202
figures = {"receiver": peak_mb()}
dispatcher = load("dispatcher")
import boto3, os
sqs, url, records = boto3.client("sqs"), os.environ["QUEUE_URL"], []
while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
    for m in messages:
        records.append({"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}})
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
for start in range(0, len(records), batch):
    assert not dispatcher.lambda_handler({"Records": records[start:start + batch]}, Context())["batchItemFailures"]
figures["dispatcher"] = peak_mb()
print("MEMORY " + json.dumps(figures))
"""


def measure(events: int = 100, batch: int = 10) -> dict[str, float]:
    """Peak RSS in MB: {"receiver": …, "dispatcher": …} (Linux: read from /proc)."""
    sys.path[:0] = [str(HERE), str(HERE / "integration")]
    import boto3
    import costrun
    from moto.server import ThreadedMotoServer
    from test_lambda_pipeline import api_event

    from httpsink import HttpSink

    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "LOG_LEVEL": "INFO", "POWERTOOLS_SERVICE_NAME": "fluxnotify", "POWERTOOLS_METRICS_NAMESPACE": "fluxnotify"}
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the moto server's access log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    app, lock = server._server.app, threading.Lock()

    def one_at_a_time(environ, start_response):  # moto's tables are not thread-safe (costrun.MOTO_LOCK)
        with lock:
            return list(app(environ, start_response))

    server._server.app = one_at_a_time
    try:
        with mock.patch.dict(os.environ, env), HttpSink() as sink, tempfile.TemporaryDirectory() as tmp:
            os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{server._server.server_port}"
            sink.server.socket.listen(128)
            tokens = costrun._deploy(boto3.session.Session(), sink.url, clusters=200, secrets=250)
            requests = Path(tmp) / "requests.json"
            requests.write_text(json.dumps([api_event(costrun.event_body(n), path=f"/{tokens[n % len(tokens)]}")
                                            for n in range(events)]))
            child_env = {**os.environ, "PYTHONPATH": str(ROOT / "layers" / "notify")}
            done = subprocess.run([sys.executable, "-c", CHILD, str(requests), str(batch)], cwd=ROOT, env=child_env,
                                  capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise RuntimeError(f"memory run failed: {done.stderr[-2000:]}")
    finally:
        server.stop()
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("MEMORY ")]
    return {name: round(mb, 1) for name, mb in json.loads(line.removeprefix("MEMORY ")).items()}


if __name__ == "__main__":
    print(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
