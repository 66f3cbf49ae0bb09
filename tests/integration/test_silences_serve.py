"""Silences through `fluxnotify serve` (a real subprocess) and a capture server: `silence add`
mutes the matching events (skipped, with the silence's id, end and comment as the rule), the
others still go out; `silence expire` lets the next event through."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from test_extensions_serve import V, event, query, start, stop, wait_until
from test_serve import FLUXNOTIFY, free_port, post

from fluxnotify.state.silences import SQLITE_REFRESH


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*FLUXNOTIFY, "silence", *args], capture_output=True, text=True, timeout=60)


def test_silence_add_mutes_then_expire_lets_the_next_event_through(tmp_path: Path, sink):
    config = tmp_path / "c.yaml"
    config.write_text(f"""
apiVersion: {V}
kind: Provider
metadata: {{name: hook, namespace: flux-system}}
spec: {{type: generic, address: "{sink.url}/hook"}}
---
apiVersion: {V}
kind: Alert
metadata: {{name: hook, namespace: flux-system}}
spec:
  providerRef: {{name: hook}}
  eventSources: [{{kind: Kustomization, name: '*', namespace: '*'}}]
""")
    db, port = tmp_path / "q.db", free_port()
    process = start(config, db, port, env={"RATE_LIMIT_INTERVAL": "0"})
    try:
        added = cli("add", "--db", str(db), "--match", "kind=Kustomization,namespace=apps,name='web-*'",
                    "--for", "2h", "--comment", "db migration")
        assert added.returncode == 0, added.stderr
        silence_id = added.stdout.strip()
        time.sleep(SQLITE_REFRESH + 0.2)  # the dispatcher's view of the silences is at most this old
        url = f"http://127.0.0.1:{port}/"
        assert post(url, event("web-frontend", namespace="apps"))[0] == 202
        assert post(url, event("api", namespace="apps"))[0] == 202  # not matched: delivered
        wait_until(lambda: len(query(db, "SELECT * FROM status_log WHERE outcome = 'skipped'")) == 1, 15,
                   "the silenced event was not skipped")
        (detail,) = query(db, "SELECT detail FROM status_log WHERE outcome = 'skipped'")[0]
        assert detail.startswith(f"silenced by {silence_id} until ") and detail.endswith(": db migration")
        (request,) = sink.wait_for(1)
        assert request.json()["involvedObject"]["name"] == "api"
        listed = cli("list", "--db", str(db))
        assert silence_id in listed.stdout and "db migration" in listed.stdout
        expired = cli("expire", silence_id, "--db", str(db))
        assert expired.returncode == 0, expired.stderr
        time.sleep(SQLITE_REFRESH + 0.2)
        assert post(url, event("web-frontend", namespace="apps"))[0] == 202
        wait_until(lambda: len(sink.requests) == 2, 15, "the event after expire was not delivered")
        assert sink.requests[1].json()["involvedObject"]["name"] == "web-frontend"
        assert cli("list", "--db", str(db)).stdout.strip() == "(no silence)"
    finally:
        stop(process)
