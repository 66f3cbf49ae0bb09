"""`render` and the real dispatcher agree (issue: one delivery path).

A corpus of manifests (every example of docs/extensions.md and examples/, every extension,
every skip rule, missing references, a failing template) × events × clusters × the
--no-cross-namespace-refs flag runs through `render` (in-process) and through the real
Dispatcher against a capture server. For every Provider an Alert routes the event to, what
render shows is what was sent (the exact bytes), skipped (the same rule), gathered (the same
digest), or an error (the same message, dead-lettered).
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from pathlib import Path

import yaml

from fluxnotify.config.files import FileStore
from fluxnotify.ingress.clusters import tag_cluster
from fluxnotify.model.event import parse_event
from fluxnotify.model.manifests import Alert, Provider, load_yaml
from fluxnotify.ops.render import render
from fluxnotify.providers import capabilities
from fluxnotify.queue.messages import new_envelope
from fluxnotify.state.silences import StaticSilences, new_silence, parse_matchers
from fluxnotify.state.stores import Stores
from helpers import MemoryQueue, door, make_dispatcher
from httpsink import HttpSink

ROOT = Path(__file__).resolve().parents[2]
V = "notification.toolkit.fluxcd.io/v1beta3"
URL = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]+)?")


def provider(name: str, spec: str, notes: dict | None = None) -> str:
    meta = f"{{name: {name}, namespace: flux-system, annotations: {json.dumps(notes or {})}}}"
    return f"---\napiVersion: {V}\nkind: Provider\nmetadata: {meta}\nspec: {spec}\n"


def alert(name: str, ref: str, extra: str = "", notes: dict | None = None,
          sources: str = "[{kind: Kustomization, name: '*'}, {kind: GitRepository, name: '*'}, "
                         "{kind: HelmRelease, name: '*', namespace: apps}]") -> str:
    meta = f"{{name: {name}, namespace: flux-system, annotations: {json.dumps(notes or {})}}}"
    return (f"---\napiVersion: {V}\nkind: Alert\nmetadata: {meta}\nspec:\n  providerRef: {{name: {ref}}}\n"
            f"  eventSources: {sources}\n{extra}")


HOOK = '{type: generic, address: "http://h.example/hook"}'
RULES = "".join([
    # drop rules (spec §2.3)
    provider("suspended", '{type: generic, address: "http://h.example/s", suspend: true}'),
    alert("to-suspended", "suspended"),
    provider("chat", '{type: slack, address: "http://h.example/chat"}'),
    alert("to-chat", "chat"),
    provider("status", '{type: github, address: "https://github.example/org/repo", secretRef: {name: gh}}'),
    "---\napiVersion: v1\nkind: Secret\nmetadata: {name: gh, namespace: flux-system}\nstringData: {token: t0k3n}\n",
    alert("to-status", "status"),
    provider("comments", '{type: githubpullrequestcomment, address: "https://github.example/org/repo", '
                         'secretRef: {name: gh}}'),
    alert("to-comments", "comments"),
    # Alert matching (one matcher)
    provider("errors-only", HOOK.replace("/hook", "/errors")),
    alert("sev", "errors-only", "  eventSeverity: error\n", sources="[{kind: Kustomization, name: '*', namespace: '*'}]"),
    provider("included", HOOK.replace("/hook", "/incl")),
    alert("incl", "included", "  inclusionList: ['.*failed.*']\n  exclusionList: ['timeout']\n"),
    provider("suspended-alert", HOOK.replace("/hook", "/sa")),
    alert("sa", "suspended-alert", "  suspend: true\n"),
    provider("labels", HOOK.replace("/hook", "/labels")),
    alert("lab", "labels", sources="[{kind: Kustomization, name: '*', matchLabels: {app: x}}]"),
    # extensions
    provider("filtered", HOOK.replace("/hook", "/filtered")),
    alert("reasons", "filtered", notes={"fluxnotify.io/reasons": "ReconciliationFailed, Health*",
                                        "fluxnotify.io/clusters": "prod-*"}),
    provider("templated", '{type: generic, address: "https://h.example/t"}'),
    alert("tpl", "templated", notes={"fluxnotify.io/message": "[{{ cluster }}] {{ event.reason }}"}),
    provider("broken-template", HOOK.replace("/hook", "/bt")),
    alert("bt", "broken-template", notes={"fluxnotify.io/message": "{{ event.nope.deeper }}"}),
    provider("digest", HOOK.replace("/hook", "/digest")),
    alert("dig", "digest", notes={"fluxnotify.io/digest": "5m", "fluxnotify.io/min-events": "3"}),
    provider("everywhere", HOOK.replace("/hook", "/everywhere")),
    alert("star", "everywhere", sources="[{kind: HelmRelease, name: '*', namespace: '*'}]"),
    # missing references and refused config
    alert("dangling", "nowhere"),
    provider("bad-address", '{type: generic, address: "not a url"}'),
    alert("to-bad", "bad-address"),
    provider("sa-provider", '{type: generic, address: "http://h.example/x", serviceAccountName: robot}'),
    alert("to-sa", "sa-provider"),
    provider("odd", '{type: carrier-pigeon, address: "http://h.example/odd"}'),
    alert("to-odd", "odd"),
])


def with_missing_providers(documents: list[dict]) -> list[dict]:
    """Fragments become a full Alert; Alerts get a generic Provider when the block has none
    (as tests/unit/ops/test_extensions_docs.py completes them)."""
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


def doc_blocks() -> list[tuple[str, str]]:
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "extensions.md").read_text(), re.S)
    return [(f"docs/extensions.md#{i}", yaml.safe_dump_all(with_missing_providers(
        [d for d in yaml.safe_load_all(block) if d]))) for i, block in enumerate(blocks)]


CORPUS = [("rules", RULES), *doc_blocks(),
          *[(f"examples/{p.name}", p.read_text()) for p in sorted((ROOT / "examples").glob("*.yaml"))]]


def events() -> list[dict]:
    base = [json.loads(p.read_text()) for p in sorted((ROOT / "events" / "bodies").glob("*.json"))]
    kustomization = base[-1]
    variants = [
        {**kustomization, "severity": "error", "reason": "ReconciliationFailed", "message": "apply failed: timeout"},
        {**kustomization, "reason": "HealthCheckFailed", "severity": "error", "message": "health check failed"},
        {**kustomization, "metadata": {"kustomize.toolkit.fluxcd.io/commit_status": "update",
                                       "kustomize.toolkit.fluxcd.io/revision": "main@sha1:0123456789abcdef"}},
        {**kustomization, "metadata": {"kustomize.toolkit.fluxcd.io/revision": "main@sha1:0123456789abcdef",
                                       "event.toolkit.fluxcd.io/change_request": "42"}},
        {**kustomization, "involvedObject": {**kustomization["involvedObject"], "kind": "HelmRelease",
                                             "namespace": "team-b"}, "severity": "info"},
    ]
    return base + variants


def at_sink(text: str, sink_url: str, forge_url: str = "") -> str:
    """Every address at the capture server; the forges' (github.example: read before write)
    at a second one, so the capture server sees exactly what render shows."""
    text = URL.sub(lambda m: m.group(0) if "github.example" in m.group(0) else sink_url, text)
    return text.replace("https://github.example", forge_url or sink_url)


def rendered_requests(entry: dict) -> list[tuple[str, str, str]]:
    found = []
    for delivery in entry["deliveries"]:
        parts = urllib.parse.urlsplit(delivery["url"])
        found.append((delivery["method"], parts.path + (f"?{parts.query}" if parts.query else ""), delivery["raw"]))
    return found


def compare(name: str, manifests: str, event: dict, cluster: str, no_cross: bool, sink,
            silences: list | None = None) -> int:
    """Run one case both ways (``silences``: render's --db, the dispatcher's store); return
    how many Providers were compared."""
    objects = load_yaml(manifests, name)
    rendered = render(objects, parse_event(json.dumps(event)), cluster, no_cross,
                      StaticSilences(silences) if silences else None)
    sink.requests.clear()
    stores = Stores.memory()
    stores.silences.store.change(lambda current: list(silences or []))
    dispatcher = make_dispatcher(FileStore(objects), MemoryQueue(), MemoryQueue(), no_cross_namespace_refs=no_cross,
                                 max_attempts=1, stores=stores)
    results = dispatcher.handle(new_envelope(tag_cluster(door(event), cluster), cluster).to_json())  # the receiver's
    by_provider = {r.provider: r for r in results}
    referenced = {f"{a.metadata.namespace}/{a.spec.provider_ref.name}" for a in objects if isinstance(a, Alert)}
    keys = {o.metadata.key for o in objects if isinstance(o, Provider)}
    sent = [(r.method, r.path, r.body.decode()) for r in sink.requests]
    expected: list[tuple[str, str, str]] = []
    compared = 0
    case = f"{name} × {event['reason']}/{event['involvedObject']['kind']} × {cluster} × no-cross={no_cross}"
    for entry in rendered:
        key = entry["provider"]
        if key in keys and key not in referenced:
            continue  # a preview: rendered as if routed, nothing routes the event there
        compared += 1
        result = by_provider.get(key)
        if entry["skipped"] and entry["skipped"].startswith("no Alert selects the event"):
            assert result is None, (case, entry, result)
        elif entry["skipped"]:
            assert (result.outcome, result.detail) == ("skipped", entry["skipped"]), (case, entry)
        elif entry.get("gathered"):
            prefix = entry["gathered"].split(" window")[0]
            assert result.outcome == "skipped" and result.detail.startswith(prefix), (case, entry, result)
        elif entry["error"] and "template_error" not in entry:
            assert (result.outcome, result.detail) == ("dead", entry["error"]), (case, entry, result)
        elif capabilities(entry["type"]).reads_before_write:
            assert result.outcome != "skipped", (case, entry, result)  # it reads the forge's API first:
            # the capture server is no forge (their wire behaviour: tests/fixtures/git)
        else:
            assert result.outcome == "delivered", (case, entry, result)
            expected += rendered_requests(entry)
    assert sorted(set(sent)) == sorted(set(expected)), case
    assert {r.provider for r in results} <= {e["provider"] for e in rendered}, case
    return compared


def test_render_and_dispatch_agree_on_the_corpus(sink):
    sink.default = (200, {"Content-Type": "application/json"}, b'{"ok": true, "ts": "1.1"}')
    compared = cases = 0
    forge = HttpSink().__enter__()
    for name, manifests in CORPUS:
        text = at_sink(manifests, sink.url, forge.url)
        for event in events():
            for cluster in ("default", "prod-eu"):
                for no_cross in (False, True):
                    compared += compare(name, text, event, cluster, no_cross, sink)
                    cases += 1
    forge.__exit__(None, None, None)
    assert cases >= 350 and compared >= 900, (cases, compared)


def test_the_corpus_reaches_the_rules_it_claims(sink):
    """The corpus is not vacuous: every rule, error and extension shows up in render."""
    text = at_sink(RULES, sink.url)
    seen: dict[str, list[str]] = {"skipped": [], "error": [], "gathered": [], "delivered": []}
    for event in events():
        for cluster in ("default", "prod-eu"):
            for entry in render(load_yaml(text), parse_event(json.dumps(event)), cluster, True):
                for field in ("skipped", "error", "gathered"):
                    if entry.get(field):
                        seen[field].append(entry[field])
                if entry["deliveries"]:
                    seen["delivered"].append(entry["provider"])
    skipped, errors = " | ".join(seen["skipped"]), " | ".join(seen["error"])
    for rule in ("provider is suspended", "commit status update events are only sent",
                 "event dropped for commit status providers", "event dropped for change request providers",
                 "fluxnotify.io/reasons: reason", "fluxnotify.io/clusters: cluster 'default'",
                 "discarding event, access denied to cross-namespace sources",
                 "Alert flux-system/sev: eventSeverity error does not select severity 'info'",
                 "is suspended", "matchLabels never match", "matches no inclusionList pattern",
                 "no event source matches"):
        assert rule in skipped, rule
    for error in ("failed to read provider: Provider 'flux-system/nowhere' not found",
                  "spec.serviceAccountName is not supported", "failed to initialize notifier",
                  "message template failed"):
        assert error in errors, error
    assert seen["gathered"] and "flux-system/templated" in seen["delivered"]


def test_render_and_dispatch_agree_with_silences(sink):
    """`render --db` and the dispatcher mute the same deliveries with the same rule."""
    sink.default = (200, {"Content-Type": "application/json"}, b'{"ok": true, "ts": "1.1"}')
    end = time.time() + 3600
    silences = [new_silence(parse_matchers(["kind=Kustomization"]), "prod-*", end, "prod freeze"),
                new_silence(parse_matchers(["namespace=team-b,reason=Reconciliation*"]), "", end, "")]
    muted = []
    forge = HttpSink().__enter__()
    text = at_sink(RULES, sink.url, forge.url)
    for event in events():
        for cluster in ("default", "prod-eu"):
            compare("rules", text, event, cluster, False, sink, silences)
            muted += [e["skipped"] for e in render(load_yaml(text), parse_event(json.dumps(event)), cluster, False,
                                                   StaticSilences(silences)) if (e["skipped"] or "").startswith("silenced")]
    forge.__exit__(None, None, None)
    assert any(m.endswith(": prod freeze") for m in muted) and any(silences[1].id in m for m in muted)
