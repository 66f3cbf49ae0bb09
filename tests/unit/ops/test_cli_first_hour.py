"""The command line as a newcomer meets it (issue 12 points 1, 5, 6, 9): commit-status
Providers validate without an event, nothing is dropped in silence, errors say what to fix,
--version and help with defaults, `-f a b`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fluxnotify import __version__
from fluxnotify.ops.cli import _parser, main

ROOT = Path(__file__).resolve().parents[3]
V3 = "notification.toolkit.fluxcd.io/v1beta3"
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
SECRET = """apiVersion: v1
kind: Secret
metadata: {name: webhook-url, namespace: flux-system}
stringData: {address: "https://hooks.slack.com/services/T0/B0/X"}
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- 12.1 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("type_, address", [
    ("github", "https://github.com/org/repo"),
    ("gitlab", "https://gitlab.com/org/repo"),
    ("bitbucket", "https://bitbucket.org/org/repo"),
    ("azuredevops", "https://dev.azure.com/org/proj/_git/repo"),
])  # fmt: skip
def test_commit_status_providers_are_ready_without_an_event(tmp_path, capsys, type_, address):
    token = "user:app-password" if type_ == "bitbucket" else "t0ken"
    text = f"""apiVersion: {V3}
kind: Provider
metadata: {{name: git, namespace: flux-system}}
spec: {{type: {type_}, address: "{address}", secretRef: {{name: git}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: git, namespace: flux-system}}
stringData: {{token: "{token}"}}
"""
    code, out, _ = run(capsys, "validate", "-f", write(tmp_path, "git.yaml", text))
    assert code == 0, out
    assert "Ready=True" in out and "commit status" not in out


def test_commit_status_providers_still_report_what_is_wrong(tmp_path, capsys):
    text = f"""apiVersion: {V3}
kind: Provider
metadata: {{name: bad-address, namespace: flux-system}}
spec: {{type: github, address: "https://github.com/only-owner", secretRef: {{name: git}}}}
---
apiVersion: {V3}
kind: Provider
metadata: {{name: no-token, namespace: flux-system}}
spec: {{type: gitlab, address: "https://gitlab.com/org/repo"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: git, namespace: flux-system}}
stringData: {{token: t0ken}}
"""
    code, out, _ = run(capsys, "validate", "-f", write(tmp_path, "git.yaml", text))
    assert code == 1
    lines = out.splitlines()
    assert "Ready=False" in lines[0] and "invalid repository id: 'only-owner'" in lines[0]
    assert "Ready=False" in lines[1] and "gitlab token cannot be empty" in lines[1]


# --- 12.5 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("document, expected, code", [
    (ALERT.replace("kind: Alert", "kind: Alerts"), "unknown kind 'Alerts'", 2),
    (ALERT.replace(V3, "notification.toolkit.fluxcd.io/v1beta9"), "apiVersion 'notification.toolkit.fluxcd.io/v1beta9'", 1),
    (PROVIDER.replace(V3, "notifcation.toolkit.fluxcd.io/v1beta3"), "is not supported", 1),
    (SECRET.replace("apiVersion: v1", "apiVersion: v2"), "a Secret is v1", 2),
    (SECRET.replace("kind: Secret", "kind: secrets"), "unknown kind 'secrets'", 2),
])  # fmt: skip
def test_near_misses_are_errors_naming_file_and_document(tmp_path, capsys, document, expected, code):
    """A near miss of a Provider/Alert is that object not Ready; anything else is an input error
    (exit 2); either way the rest of the file is still reported."""
    path = write(tmp_path, "mixed.yaml", PROVIDER + "---\n" + SECRET + "---\n" + document)
    status, out, err = run(capsys, "validate", "-f", path)
    assert status == code
    assert f"{path} Provider flux-system/slack Ready=True" in " ".join(out.split())
    if code == 2:
        assert err.startswith(f"fluxnotify: {path}: ") and expected in err
        assert out.splitlines()[-1] == "1 object: 1 Ready, 0 not Ready, 0 warnings, 1 input error"
    else:
        assert "Ready=False" in out and expected in out and err == ""


def test_other_kinds_are_skipped_with_a_note(tmp_path, capsys):
    other = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps}\n"
    path = write(tmp_path, "mixed.yaml", "---\n".join([PROVIDER, other, ALERT, SECRET]))
    code, out, err = run(capsys, "validate", "-f", path)
    assert code == 0 and out.count("Ready=True") == 2
    assert f"fluxnotify: note: {path}: document 2: skipped kustomize.toolkit.fluxcd.io/v1 Kustomization apps" in err


@pytest.mark.parametrize("setup, expected", [
    (lambda d: str(d), "no *.yaml or *.yml files in the directory"),
    (lambda d: write(d, "empty.yaml", "# nothing yet\n---\n"), "no Kubernetes objects in the file"),
    (lambda d: str(ROOT / "events/bodies/kustomization-reconciled.json"), "an event goes to --event"),
])  # fmt: skip
def test_nothing_to_load_is_an_error_naming_the_path(tmp_path, capsys, setup, expected):
    path = setup(tmp_path)
    code, _, err = run(capsys, "validate", "-f", path)
    assert code == 2 and err.startswith(f"fluxnotify: {path}: ") and expected in err


# --- 12.6 -----------------------------------------------------------------------------------


def test_missing_secret_key_is_named(tmp_path, capsys):
    empty_secret = SECRET.replace('stringData: {address: "https://hooks.slack.com/services/T0/B0/X"}',
                                  "stringData: {channel: general}")
    path = write(tmp_path, "p.yaml", PROVIDER + "---\n" + empty_secret)
    code, out, _ = run(capsys, "validate", "-f", path)
    assert code == 1
    assert "Secret flux-system/webhook-url has no 'address' key and spec.address is empty" in out


def test_bad_pattern_is_one_line_and_re2_logs_nothing(tmp_path):
    alert = ALERT + "  exclusionList: ['(unclosed']\n"
    path = write(tmp_path, "p.yaml", PROVIDER + "---\n" + SECRET + "---\n" + alert)
    done = subprocess.run([sys.executable, "-m", "fluxnotify.ops.cli", "validate", "-f", path],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "spec.exclusionList[0]: invalid regular expression '(unclosed': missing ): (unclosed" in done.stdout
    assert done.stderr == ""  # google-re2 would log 'Error parsing …' lines to fd 2


# --- 12.9 -----------------------------------------------------------------------------------


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"fluxnotify {__version__}"


def test_every_option_has_help_and_shows_its_default():
    parser = _parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    assert set(commands.choices) >= {"serve", "render", "validate", "import", "export", "replay"}
    for name, command in commands.choices.items():
        assert command.description, name
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings}"
        text = command.format_help()
        for action in command._actions:
            shown = action.default not in (None, False, [], "", "==SUPPRESS==") and "token" not in action.dest
            if shown:
                assert f"(default: {action.default})" in " ".join(text.split()), f"{name} {action.dest}"
    assert "several after one -f, and -f repeatable" in " ".join(commands.choices["validate"].format_help().split())


def test_several_paths_after_one_f(tmp_path, capsys):
    first = write(tmp_path, "providers.yaml", PROVIDER + "---\n" + SECRET)
    (tmp_path / "alerts").mkdir()
    second = write(tmp_path / "alerts", "alerts.yaml", ALERT)
    code, out, _ = run(capsys, "validate", "-f", first, str(tmp_path / "alerts"))
    assert code == 0 and out.count("Ready=True") == 2, out
    assert second


def test_missing_token_key_is_named(tmp_path, capsys):
    text = f"""apiVersion: {V3}
kind: Provider
metadata: {{name: signed, namespace: flux-system}}
spec: {{type: generic-hmac, address: "https://hooks.example/x", secretRef: {{name: hmac}}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: hmac, namespace: flux-system}}
stringData: {{headers: "X-A: b"}}
"""
    code, out, _ = run(capsys, "validate", "-f", write(tmp_path, "p.yaml", text))
    assert code == 1
    assert "Secret flux-system/hmac has no 'token' key (HMAC key is empty)" in out
