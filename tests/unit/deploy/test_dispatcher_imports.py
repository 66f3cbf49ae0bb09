"""The dispatcher handler's cold start (issue 27): importing functions/dispatcher/app.py and
reading a stored configuration load no pydantic; a stored object that is not as import wrote
it is still validated by the models (which are imported then, and refuse it).

Not a timing test (bench/cold_start.py times it): a fresh interpreter reports what it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from template_helpers import ROOT

from fluxnotify.model.manifests import load_yaml

NOT_AT_IMPORT = ("boto3", "botocore.session", "botocore.client", "asyncio", "pydantic", "yaml", "jinja2", "celpy")
CODE = """
import json, sys
sys.path.insert(0, 'functions/dispatcher')
import app
from fluxnotify.config.snapshot import Snapshot, _add
at_import = [m for m in %r if m in sys.modules]
snapshot = Snapshot("v1")
for name, value in json.loads(sys.argv[1]):
    _add(snapshot, name, value)
loaded = {"alerts": [a.metadata.key for a in snapshot.alerts], "providers": sorted(snapshot.providers),
          "pydantic": "pydantic" in sys.modules}
print(json.dumps({"at_import": at_import, **loaded}))
""" % (NOT_AT_IMPORT,)

YAML = """
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: slack, namespace: apps}
spec: {type: slack, address: "https://hooks.example/x", secretRef: {name: s}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: all, namespace: apps}
spec: {providerRef: {name: slack}, eventSources: [{kind: Kustomization, name: '*'}]}
"""


def load_in_a_fresh_dispatcher(parameters: list[tuple[str, str]]) -> dict:
    env = {**os.environ, "QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/events",
           "DLQ_URL": "https://sqs.eu-west-1.amazonaws.com/1/dead", "AWS_DEFAULT_REGION": "eu-west-1",
           "FLUXNOTIFY_TRACING": "false"}
    done = subprocess.run([sys.executable, "-c", CODE, json.dumps(parameters)], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout.splitlines()[-1])


def stored() -> list[tuple[str, str]]:
    return [(f"/fluxnotify/config/apps/{o.kind}/{o.metadata.name}", json.dumps(o.as_dict()))
            for o in load_yaml(YAML)]


def test_the_dispatcher_imports_and_reads_what_import_stored_without_pydantic():
    assert load_in_a_fresh_dispatcher(stored()) == {
        "at_import": [], "alerts": ["apps/all"], "providers": ["apps/slack"], "pydantic": False}


def test_a_stored_object_in_another_form_is_validated_and_an_invalid_one_left_out():
    (provider_name, provider), (alert_name, alert) = stored()
    coerced = json.loads(provider)
    coerced["spec"]["suspend"] = "false"  # the model accepts it, the stored form never has it
    invalid = json.loads(alert)
    invalid["spec"]["eventSources"] = []
    found = load_in_a_fresh_dispatcher([(provider_name, json.dumps(coerced)), (alert_name, json.dumps(invalid))])
    assert found == {"at_import": [], "alerts": [], "providers": ["apps/slack"], "pydantic": True}
