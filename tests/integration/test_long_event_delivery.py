"""Issue 12.2: a 256 KiB event with a long message (and 300 metadata keys) is accepted by the
local stack and delivered, each provider cutting the message to its own budget."""

from __future__ import annotations

import json
import urllib.request

from fluxnotify.ops.local import LocalStack
from fluxnotify.providers.chat import discord, msteams

PROVIDERS = {"generic": "/generic", "discord": "/api/webhooks/1/abc", "msteams": "/teams"}


def manifests(url: str) -> str:
    docs = []
    for kind, path in PROVIDERS.items():
        docs.append(f"""apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {{name: {kind}, namespace: flux-system}}
spec: {{type: {kind}, address: "{url}{path}"}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {{name: {kind}, namespace: flux-system}}
spec:
  providerRef: {{name: {kind}}}
  eventSources: [{{kind: HelmRelease, name: "*"}}]
""")
    return "---\n".join(docs)


def long_event() -> bytes:
    event = {
        "involvedObject": {"kind": "HelmRelease", "namespace": "flux-system", "name": "kube-prometheus",
                           "apiVersion": "helm.toolkit.fluxcd.io/v2"},
        "severity": "error", "timestamp": "2026-11-25T10:00:00Z", "reason": "InstallFailed",
        "reportingController": "helm-controller", "message": "",
        "metadata": {f"helm.toolkit.fluxcd.io/k{i:03d}": "v" for i in range(300)},
    }
    size = len(json.dumps(event))
    event["message"] = "Helm install failed: " + "template: error line\n" * ((256 * 1024 - size - 200) // 22)
    body = json.dumps(event).encode()
    assert 250 * 1024 < len(body) <= 256 * 1024
    return body


def test_256_kib_event_is_accepted_and_cut_by_each_provider(tmp_path, sink):
    config = tmp_path / "flux.yaml"
    config.write_text(manifests(sink.url))
    stack = LocalStack([str(config)], port=0, database=str(tmp_path / "q.db"), workers=2).start()
    try:
        body = long_event()
        request = urllib.request.Request(f"{stack.url}/", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 202
        received = sink.wait_for(3, timeout=20)
    finally:
        stack.stop()
    by_path = {r.path.split("?")[0]: r for r in received}
    message = json.loads(body)["message"]
    assert by_path["/generic"].json()["message"] == message  # generic forwards it whole
    discord_text = next(iter(by_path[p] for p in by_path if p.startswith("/api/webhooks"))).json()["attachments"][0]["text"]
    assert len(discord_text) <= discord.MAX_TEXT < len(message)
    assert len(by_path["/teams"].body) <= msteams.MAX_BODY < len(message)

