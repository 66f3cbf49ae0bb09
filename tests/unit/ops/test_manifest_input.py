"""Manifests from standard input and SOPS-encrypted Secrets (issue 24.7), and the `validate`
report over every file (issue 24.9), through the command line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from fluxnotify.ops.cli import main

ROOT = Path(__file__).resolve().parents[3]
V3 = "notification.toolkit.fluxcd.io/v1beta3"
HOOK_SECRET = "XyZsecretHookPath123"
PROVIDER = f"""apiVersion: {V3}
kind: Provider
metadata: {{name: slack, namespace: flux-system}}
spec: {{type: slack, secretRef: {{name: webhook-url}}}}
"""
ALERT = f"""apiVersion: {V3}
kind: Alert
metadata: {{name: on-call, namespace: flux-system}}
spec:
  providerRef: {{name: slack}}
  eventSources: [{{kind: Kustomization, name: "*"}}]
"""
SECRET = f"""apiVersion: v1
kind: Secret
metadata: {{name: webhook-url, namespace: flux-system}}
stringData: {{address: "https://hooks.slack.com/services/T0/B0/{HOOK_SECRET}"}}
"""
MANIFESTS = "---\n".join([PROVIDER, SECRET, ALERT])
SOPS_SECRET = """apiVersion: v1
kind: Secret
metadata: {name: webhook-url, namespace: flux-system}
stringData:
  address: ENC[AES256_GCM,data:q3ZkPaxNvL3q,iv:Mb1V,tag:1w==,type:str]
sops:
  age: [{recipient: age1xyz, enc: "-----BEGIN AGE ENCRYPTED FILE-----"}]
  version: 3.8.1
"""
EVENT = ROOT / "events" / "bodies" / "kustomization-reconciled.json"


def run(capsys, monkeypatch, stdin: str, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8"))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


# --- 24.7: -f - ---------------------------------------------------------------------------------


def test_validate_reads_standard_input(capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, MANIFESTS, "validate", "-f", "-")
    assert code == 0, out + err
    rows = [" ".join(line.split()) for line in out.splitlines()]
    assert rows == [
        "<stdin> Provider flux-system/slack Ready=True Succeeded: Initialized",
        "<stdin> Alert flux-system/on-call Ready=True Succeeded: Initialized",
        "2 objects: 2 Ready, 0 not Ready, 0 warnings",
    ]


def test_standard_input_joins_files_given_with_it(tmp_path, capsys, monkeypatch):
    alerts = write(tmp_path, "alerts.yaml", ALERT)
    code, out, _ = run(capsys, monkeypatch, PROVIDER + "---\n" + SECRET, "validate", "-f", "-", "-f", alerts)
    assert code == 0 and out.count("Ready=True") == 2
    assert f"{alerts} Alert flux-system/on-call Ready=True" in " ".join(out.split())


def test_standard_input_twice_is_an_input_error(capsys, monkeypatch):
    code, _, err = run(capsys, monkeypatch, MANIFESTS, "validate", "-f", "-", "-")
    assert code == 2 and "fluxnotify: <stdin>: -f - is given more than once" in err


def test_render_reads_standard_input(capsys, monkeypatch):
    code, out, err = run(capsys, monkeypatch, MANIFESTS, "render", "-f", "-", "--event", str(EVENT))
    assert code == 0, err
    [result] = json.loads(out)
    assert result["provider"] == "flux-system/slack" and result["error"] is None
    assert result["deliveries"][0]["url"].startswith("https://hooks.slack.com/services/")


def test_import_reads_standard_input(capsys, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("CONFIG_PREFIX", raising=False)
    monkeypatch.delenv("SECRETS_PREFIX", raising=False)
    with mock_aws():
        code, out, err = run(capsys, monkeypatch, MANIFESTS, "import", "-f", "-")
        assert code == 0, err
        stored = boto3.client("ssm").get_parameter(Name="/fluxnotify/flux-system/Provider/slack")
    assert json.loads(stored["Parameter"]["Value"])["spec"]["type"] == "slack"
    assert "+ Provider flux-system/slack" in out and "+ Alert flux-system/on-call" in out


def test_a_pipe_into_the_installed_command(tmp_path):
    """As `kustomize build … | fluxnotify validate -f -` runs it: a real pipe, a real process."""
    executable = ROOT / ".venv" / "bin" / "fluxnotify"
    command = [str(executable)] if executable.exists() else [sys.executable, "-m", "fluxnotify.ops.cli"]
    broken = MANIFESTS.replace("type: slack", "type: slak")
    done = subprocess.run([*command, "validate", "-f", "-"], input=broken, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "<stdin>" in done.stdout and "provider slak not supported" in done.stdout
    assert done.stdout.splitlines()[-1] == "2 objects: 0 Ready, 2 not Ready, 0 warnings"


# --- 24.7: SOPS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [
    SOPS_SECRET,
    SOPS_SECRET.split("sops:")[0],  # ENC[…] values alone
    SOPS_SECRET.replace("stringData:\n  address: ENC", "data:\n  address: ENC"),
    SECRET + "sops: {version: 3.8.1}\n",  # a sops: key alone
])  # fmt: skip
def test_a_sops_encrypted_secret_says_decrypt_first(tmp_path, capsys, monkeypatch, secret):
    path = write(tmp_path, "secret.enc.yaml", secret)
    providers = write(tmp_path, "providers.yaml", PROVIDER + "---\n" + ALERT)
    code, out, err = run(capsys, monkeypatch, "", "validate", "-f", providers, path)
    assert code == 2
    assert err.startswith(
        f"fluxnotify: {path}: Secret flux-system/webhook-url: this Secret is SOPS-encrypted: decrypt it first "
        f"(sops -d {path} | fluxnotify … -f -)"
    )
    assert "invalid" not in err.lower() and "URL" not in err and "base64" not in err


def test_a_decrypted_stream_on_standard_input_is_used(capsys, monkeypatch):
    """What `sops -d secret.enc.yaml | fluxnotify validate -f - -f providers.yaml` gives."""
    code, out, _ = run(capsys, monkeypatch, MANIFESTS, "validate", "-f", "-")
    assert code == 0 and HOOK_SECRET not in out


def test_sops_encrypted_on_standard_input_names_no_file(capsys, monkeypatch):
    code, _, err = run(capsys, monkeypatch, PROVIDER + "---\n" + SOPS_SECRET, "validate", "-f", "-")
    assert code == 2
    assert "this Secret is SOPS-encrypted: decrypt it first (sops -d FILE | fluxnotify … -f -)" in err


# --- 24.9: every file, every error ------------------------------------------------------------


def test_every_file_and_every_error_with_a_summary(tmp_path, capsys, monkeypatch):
    good = write(tmp_path, "a-good.yaml", MANIFESTS)
    bad_provider = write(tmp_path, "b-provider.yaml", f"""apiVersion: {V3}
kind: Provider
metadata: {{name: pager, namespace: ops}}
spec: {{type: generic, address: "https://hooks.example/x", serviceAccountName: robot, commitStatusExpr: "x"}}
""")
    bad_alert = write(tmp_path, "c-alert.yaml", f"""apiVersion: {V3}
kind: Alert
metadata: {{name: noisy, namespace: ops}}
spec:
  providerRef: {{name: pager}}
  eventSeverity: warning
  eventSources: [{{kind: Deployment, name: x}}]
  exclusionList: ["(unclosed"]
---
apiVersion: {V3}
kind: Alert
metadata: {{name: shapeless, namespace: ops}}
spec: {{providerRef: {{}}, eventSources: []}}
""")
    code, out, err = run(capsys, monkeypatch, "", "validate", "-f", bad_alert, good, bad_provider)
    assert code == 1 and err == ""
    rows = [" ".join(line.split()) for line in out.splitlines()]
    assert rows[-1] == "5 objects: 2 Ready, 3 not Ready, 0 warnings"
    assert [row.split()[:3] for row in rows[:-1]] == (
        [[bad_alert, "Alert", "ops/noisy"]] * 4
        + [[bad_alert, "Alert", "ops/shapeless"]]
        + [[good, "Provider", "flux-system/slack"], [good, "Alert", "flux-system/on-call"]]
        + [[bad_provider, "Provider", "ops/pager"]] * 2
    )
    noisy = "\n".join(rows[:4])
    for problem in ("spec.eventSeverity: 'warning' must be info or error",
                    "spec.eventSources[0].kind: 'Deployment' is not a Flux kind",
                    "spec.exclusionList[0]: invalid regular expression '(unclosed'",
                    "spec.providerRef.name: Provider 'ops/pager' is not ready"):
        assert problem in noisy
    assert "spec.providerRef.name: Field required" in rows[4] and "spec.eventSources: List should have" in rows[4]
    assert "spec.serviceAccountName: workload identity" in rows[7]
    assert "spec.commitStatusExpr is only allowed for commit status types" in rows[8]


def test_a_provider_that_cannot_load_makes_its_alerts_not_ready(tmp_path, capsys, monkeypatch):
    text = f"apiVersion: {V3}\nkind: Provider\nmetadata: {{name: slack, namespace: flux-system}}\nspec: {{}}\n"
    path = write(tmp_path, "p.yaml", text + "---\n" + ALERT)
    code, out, _ = run(capsys, monkeypatch, "", "validate", "-f", path)
    assert code == 1
    rows = [" ".join(line.split()) for line in out.splitlines()]
    assert f"{path} Alert flux-system/on-call Ready=False ProviderNotReady:" in rows[0]
    assert f"{path} Provider flux-system/slack Ready=False ValidationFailed: spec.type: Field required" in rows[1]


def test_unreadable_files_do_not_hide_the_others(tmp_path, capsys, monkeypatch):
    good = write(tmp_path, "good.yaml", MANIFESTS)
    broken = write(tmp_path, "broken.yaml", "kind: [unclosed\n")
    missing = str(tmp_path / "missing.yaml")
    code, out, err = run(capsys, monkeypatch, "", "validate", "-f", broken, missing, good)
    assert code == 2
    assert err.splitlines()[0].startswith(f"fluxnotify: {broken}: not valid YAML")
    assert f"fluxnotify: {missing}: cannot read file: No such file or directory" in err.splitlines()
    assert out.splitlines()[-1] == "2 objects: 2 Ready, 0 not Ready, 0 warnings, 2 input errors"


def test_json_output_has_the_file_every_error_and_the_summary_on_stderr(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "p.yaml", MANIFESTS.replace("type: slack", "type: slack, serviceAccountName: x"))
    code, out, err = run(capsys, monkeypatch, "", "validate", "-f", path, "-o", "json")
    assert code == 1
    provider = json.loads(out)[0]
    assert provider["file"] == path and provider["status"] == "False"
    assert provider["errors"][0].startswith("spec.serviceAccountName:") and provider["warnings"] == []
    assert err == "2 objects: 0 Ready, 2 not Ready, 0 warnings\n"


def test_import_names_every_broken_file_before_refusing(tmp_path, capsys, monkeypatch):
    first = write(tmp_path, "a.yaml", "kind: [unclosed\n")
    second = write(tmp_path, "b.yaml", SOPS_SECRET)
    code, _, err = run(capsys, monkeypatch, "", "import", "-f", first, second, "--dry-run")
    assert code == 1
    assert f"{second}: Secret flux-system/webhook-url: this Secret is SOPS-encrypted" in err
    assert f"fluxnotify: refusing to import: {first}: not valid YAML" in err and "(and 1 more above)" in err
