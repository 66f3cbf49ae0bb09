"""Ready conditions of Providers and Alerts (`fluxnotify validate`, DESIGN.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.validate import conditions

ROOT = Path(__file__).resolve().parents[3]
V = "notification.toolkit.fluxcd.io/v1beta3"


def provider(name: str, spec: str, ns: str = "flux-system") -> str:
    return f"apiVersion: {V}\nkind: Provider\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n---\n"


def alert(name: str, spec: str, ns: str = "flux-system") -> str:
    return f"apiVersion: {V}\nkind: Alert\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {spec}\n---\n"


def secret(name: str, data: dict[str, str], ns: str = "flux-system") -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
                       "stringData": data}) + "\n---\n"


def condition_map(text: str) -> dict[tuple[str, str], dict]:
    return {(c.kind, c.key): c.as_dict() for c in conditions(load_yaml(text))}


def one(text: str, kind: str, key: str) -> dict:
    return condition_map(text)[(kind, key)]


SOURCES = "[{kind: Kustomization, name: '*'}]"


def test_ready_provider_and_alert():
    text = provider("slack", "{type: slack, address: 'https://hooks.slack.com/services/T/B/X'}") + alert(
        "a", f"{{providerRef: {{name: slack}}, eventSources: {SOURCES}}}")
    found = conditions(load_yaml(text))
    assert [c.as_dict() for c in found] == [
        {"kind": "Provider", "name": "flux-system/slack", "type": "Ready", "status": "True",
         "reason": "Succeeded", "message": "Initialized"},
        {"kind": "Alert", "name": "flux-system/a", "type": "Ready", "status": "True",
         "reason": "Succeeded", "message": "Initialized"},
    ]


def test_conditions_follow_file_order_and_skip_secrets():
    text = (alert("z", f"{{providerRef: {{name: p}}, eventSources: {SOURCES}}}")
            + secret("s", {"token": "t"})
            + provider("p", "{type: generic, address: 'http://h'}"))
    assert [(c.kind, c.key) for c in conditions(load_yaml(text))] == [("Alert", "flux-system/z"),
                                                                      ("Provider", "flux-system/p")]


def test_unknown_type():
    c = one(provider("p", "{type: carrierpigeon, address: 'http://h'}"), "Provider", "flux-system/p")
    assert (c["status"], c["reason"]) == ("False", "ValidationFailed")
    assert c["message"] == "failed to initialize notifier: provider carrierpigeon not supported"


def test_bad_address():
    c = one(provider("p", "{type: slack, address: 'not a url'}"), "Provider", "flux-system/p")
    assert c["status"] == "False"
    assert c["message"] == "invalid Slack hook URL not a url: 'parse \"not a url\": invalid URI for request'"


def test_generic_without_address():
    c = one(provider("p", "{type: generic}"), "Provider", "flux-system/p")
    assert c["message"] == 'invalid hook URL : parse "": empty url'


def test_missing_secret():
    c = one(provider("p", "{type: slack, address: 'https://h/x', secretRef: {name: nope}}"), "Provider", "flux-system/p")
    assert c["status"] == "False"
    assert c["message"].startswith("failed to get secret 'flux-system/nope': ")


def test_secret_in_another_namespace_is_not_found():
    text = secret("tok", {"token": "t"}, ns="other") + provider(
        "p", "{type: generic-hmac, address: 'https://h/x', secretRef: {name: tok}}")
    assert one(text, "Provider", "flux-system/p")["message"].startswith("failed to get secret 'flux-system/tok': ")


def test_generic_hmac_needs_its_token():
    ok = secret("tok", {"token": "k"}) + provider("p", "{type: generic-hmac, address: 'https://h/x', secretRef: {name: tok}}")
    assert one(ok, "Provider", "flux-system/p")["status"] == "True"
    # username without password: the credentials quirk drops the token too
    quirk = secret("tok", {"token": "k", "username": "u"}) + provider(
        "p", "{type: generic-hmac, address: 'https://h/x', secretRef: {name: tok}}")
    assert one(quirk, "Provider", "flux-system/p")["message"] == "HMAC key is empty"


def test_secret_with_bad_ca():
    text = secret("certs", {"ca.crt": "not a certificate"}) + provider(
        "p", "{type: generic, address: 'https://h/x', certSecretRef: {name: certs}}")
    c = one(text, "Provider", "flux-system/p")
    assert (c["status"], c["reason"]) == ("False", "ValidationFailed")
    assert c["message"] == "failed to get TLS config: failed to parse CA certificate"


def test_cert_secret_without_tls_keys():
    text = secret("certs", {"foo": "bar"}) + provider(
        "p", "{type: generic, address: 'https://h/x', certSecretRef: {name: certs}}")
    assert one(text, "Provider", "flux-system/p")["message"] == (
        "failed to get TLS config: secret 'flux-system/certs' must contain either 'ca.crt' or both 'tls.crt' and 'tls.key'")


def test_service_account_name_is_refused():
    c = one(provider("p", "{type: generic, address: 'https://h/x', serviceAccountName: sa}"), "Provider", "flux-system/p")
    assert (c["status"], c["reason"]) == ("False", "ValidationFailed")
    assert "serviceAccountName" in c["message"]


def test_commit_status_expr_only_for_commit_status_types():
    c = one(provider("p", "{type: slack, address: 'https://h/x', commitStatusExpr: \"'x'\"}"), "Provider", "flux-system/p")
    assert c["status"] == "False"
    assert "commitStatusExpr" in c["message"]


def test_bad_timeout():
    c = one(provider("p", "{type: generic, address: 'https://h/x', timeout: 1h}"), "Provider", "flux-system/p")
    assert c["status"] == "False"
    assert "1h" in c["message"]


def test_alert_referencing_missing_provider():
    text = provider("p", "{type: generic, address: 'http://h'}", ns="other") + alert(
        "a", f"{{providerRef: {{name: p}}, eventSources: {SOURCES}}}")
    c = one(text, "Alert", "flux-system/a")
    assert (c["status"], c["reason"]) == ("False", "ProviderNotFound")
    assert c["message"] == "spec.providerRef.name: Provider 'flux-system/p' not found"


def test_alert_referencing_a_not_ready_provider_is_not_ready():
    """As Flux's Alert status has it: Ready only when the Provider is found and Ready."""
    text = provider("p", "{type: slack, address: 'bad'}") + alert("a", f"{{providerRef: {{name: p}}, eventSources: {SOURCES}}}")
    found = condition_map(text)
    assert found[("Provider", "flux-system/p")]["status"] == "False"
    alert_condition = found[("Alert", "flux-system/a")]
    assert (alert_condition["status"], alert_condition["reason"]) == ("False", "ProviderNotReady")
    assert alert_condition["message"] == "spec.providerRef.name: Provider 'flux-system/p' is not ready"


@pytest.mark.parametrize("labels", ["{}", "{app: web}"])
def test_match_labels_is_not_ready(labels):
    text = provider("p", "{type: generic, address: 'http://h'}") + alert(
        "a", f"{{providerRef: {{name: p}}, eventSources: [{{kind: GitRepository, name: x}}, "
        f"{{kind: Kustomization, name: '*', matchLabels: {labels}}}]}}")
    c = one(text, "Alert", "flux-system/a")
    assert (c["status"], c["reason"]) == ("False", "ValidationFailed")
    assert c["message"].startswith("spec.eventSources[1].matchLabels: ")


@pytest.mark.parametrize(("field", "index"), [("inclusionList", 0), ("exclusionList", 1)])
def test_invalid_regex_is_not_ready(field, index):
    patterns = "['(unclosed']" if index == 0 else "['ok', '[a-']"
    text = provider("p", "{type: generic, address: 'http://h'}") + alert(
        "a", f"{{providerRef: {{name: p}}, eventSources: {SOURCES}, {field}: {patterns}}}")
    c = one(text, "Alert", "flux-system/a")
    assert (c["status"], c["reason"]) == ("False", "ValidationFailed")
    assert c["message"].startswith(f"spec.{field}[{index}]: invalid regular expression ")


def test_unknown_event_source_kind_and_bad_severity():
    base = provider("p", "{type: generic, address: 'http://h'}")
    kind = one(base + alert("a", "{providerRef: {name: p}, eventSources: [{kind: Deployment, name: x}]}"),
               "Alert", "flux-system/a")
    assert kind["status"] == "False" and kind["message"].startswith("spec.eventSources[0].kind: ")
    sev = one(base + alert("a", f"{{providerRef: {{name: p}}, eventSeverity: warning, eventSources: {SOURCES}}}"),
              "Alert", "flux-system/a")
    assert sev["status"] == "False" and sev["message"].startswith("spec.eventSeverity: ")


# --- the CLI --------------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    executable = ROOT / ".venv" / "bin" / "fluxnotify"
    command = [str(executable), *args] if executable.exists() else [sys.executable, "-m", "fluxnotify.ops.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_cli_validate_exit_codes(tmp_path):
    good = provider("p", "{type: generic, address: 'http://h'}") + alert("a", f"{{providerRef: {{name: p}}, eventSources: {SOURCES}}}")
    bad = good + alert("orphan", f"{{providerRef: {{name: missing}}, eventSources: {SOURCES}}}")
    (tmp_path / "good.yaml").write_text(good)
    (tmp_path / "bad.yaml").write_text(bad)

    ok = run_cli("validate", "-f", str(tmp_path / "good.yaml"))
    assert ok.returncode == 0, ok.stderr
    *rows, summary = ok.stdout.splitlines()
    assert len(rows) == 2 and summary == "2 objects: 2 Ready, 0 not Ready, 0 warnings"
    assert all("Ready=True" in line for line in rows)

    failing = run_cli("validate", "-f", str(tmp_path / "bad.yaml"), "-o", "json")
    assert failing.returncode == 1
    statuses = {c["name"]: (c["status"], c["reason"]) for c in json.loads(failing.stdout)}
    assert statuses == {"flux-system/p": ("True", "Succeeded"), "flux-system/a": ("True", "Succeeded"),
                        "flux-system/orphan": ("False", "ProviderNotFound")}

    text_out = run_cli("validate", "-f", str(tmp_path / "bad.yaml"))
    assert text_out.returncode == 1
    assert "Ready=False" in text_out.stdout and "ProviderNotFound" in text_out.stdout

    missing = run_cli("validate", "-f", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2
    assert missing.stderr == f"fluxnotify: {tmp_path / 'nope.yaml'}: cannot read file: No such file or directory\n"


def test_a_directory_is_read_as_its_yaml_files(tmp_path):
    from fluxnotify.config.files import load_files

    (tmp_path / "b.yaml").write_text(
        "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\n"
        "metadata: {name: b, namespace: ns}\nspec: {type: generic, address: 'http://h/x'}\n"
    )
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "a.yml").write_text(
        "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\n"
        "metadata: {name: a, namespace: ns}\nspec: {type: slack, address: 'http://h/y'}\n"
    )
    (tmp_path / "notes.txt").write_text("not yaml: [")
    assert [o.metadata.name for o in load_files([str(tmp_path)])] == ["b", "a"]
