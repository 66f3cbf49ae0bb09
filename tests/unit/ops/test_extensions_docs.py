"""docs/extensions.md and examples/extensions.yaml: every example is accepted by `validate`."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from fluxnotify.model.manifests import Alert, load_yaml
from fluxnotify.ops.validate import conditions

ROOT = Path(__file__).resolve().parents[3]
V = "notification.toolkit.fluxcd.io/v1beta3"


def with_missing_providers(documents: list[dict]) -> list[dict]:
    """Fragments become a full Alert; Alerts get a generic Provider when the block has none."""
    if not all("kind" in d for d in documents):
        (fragment,) = documents
        documents = [{"apiVersion": V, "kind": "Alert",
                      "metadata": {"name": "a", "namespace": "flux-system", **fragment["metadata"]},
                      "spec": {"providerRef": {"name": "p"}, "eventSources": [{"kind": "Kustomization", "name": "*"}]}}]
    present = {d["metadata"]["name"] for d in documents if d["kind"] == "Provider"}
    wanted = {d["spec"]["providerRef"]["name"] for d in documents if d["kind"] == "Alert"}
    return documents + [{"apiVersion": V, "kind": "Provider", "metadata": {"name": name, "namespace": "flux-system"},
                         "spec": {"type": "generic", "address": "http://127.0.0.1:9393/"}}
                        for name in sorted(wanted - present)]


def test_every_example_of_the_page_is_ready():
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "extensions.md").read_text(), re.S)
    assert len(blocks) >= 7
    alerts = 0
    for block in blocks:
        documents = with_missing_providers([d for d in yaml.safe_load_all(block) if d])
        objects = load_yaml(yaml.safe_dump_all(documents), "docs/extensions.md")
        alerts += sum(isinstance(o, Alert) and bool(o.metadata.annotations) for o in objects)
        for condition in conditions(objects):
            assert condition.ready, (condition, block)
    assert alerts >= 5  # template, digest, threshold, reasons, clusters


def test_the_example_file_is_ready():
    found = conditions(load_yaml((ROOT / "examples" / "extensions.yaml").read_text()))
    assert len(found) == 4 and all(c.ready for c in found)
