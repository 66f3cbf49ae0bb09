"""The receiver handler imports only what its first invocation needs (issue 18: cold start).

Not a timing test: a fresh interpreter imports functions/receiver/app.py and reports which
heavy modules got loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from template_helpers import ROOT

# Powertools imports the bare `botocore` package (its __init__, well under a millisecond) to
# add its user agent; the SDK's clients and sessions must wait for the first request.
NOT_AT_IMPORT = (
    "boto3", "botocore.session", "botocore.client", "asyncio", "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.utilities.parameters", "aws_xray_sdk", "pydantic",
)
CODE = """
import json, sys
sys.path.insert(0, 'functions/receiver')
import app
print(json.dumps([m for m in %r if m in sys.modules]))
""" % (NOT_AT_IMPORT,)


def test_receiver_import_loads_no_sdk_no_asyncio_no_resolver():
    env = {**os.environ, "QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/events",
           "AWS_DEFAULT_REGION": "eu-west-1", "FLUXNOTIFY_TRACING": "false"}
    done = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=60)
    assert json.loads(done.stdout.splitlines()[-1]) == []
