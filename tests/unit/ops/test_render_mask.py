"""`render` masks credentials by default (issue 24.6), in JSON and table output;
`--show-secrets` prints them as they go out."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from fluxnotify.config.options import secret_forms
from fluxnotify.ops.cli import main
from fluxnotify.ops.rendermask import mask_url

ROOT = Path(__file__).resolve().parents[3]
EVENT = str(ROOT / "events/bodies/kustomization-reconciled.json")
V3 = "notification.toolkit.fluxcd.io/v1beta3"
GITHUB_TOKEN = "ghp_R3alLooking70kenValue1234567890abcd"
SLACK_HOOK = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/abcdefghijklmnopqrstuvwx"
TEAMS_SIG = "Xy9Q-signatureValue_0123456789abcdefABCDEF"
TEAMS_URL = ("https://prod-01.westeurope.logic.azure.com:443/workflows/0a1b2c3d4e5f60718293a4b5c6d7e8f9"
             f"/triggers/manual/paths/invoke?api-version=2016-06-01&sv=1.0&sig={TEAMS_SIG}")
BASIC_PASSWORD = "s3cr3t-Passw0rd"
HMAC_KEY = "hmac-key-0123456789"


def provider(name: str, type_: str, secret: str, address: str = "") -> str:
    spec = f"type: {type_}, secretRef: {{name: {name}}}" + (f", address: '{address}'" if address else "")
    return f"---\napiVersion: {V3}\nkind: Provider\nmetadata: {{name: {name}, namespace: flux-system}}\nspec: {{{spec}}}\n" \
        f"---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: flux-system}}\nstringData: {secret}\n"


MANIFESTS = "".join([
    provider("github", "github", f"{{token: {GITHUB_TOKEN}}}", "https://github.com/org/repo"),
    provider("slack", "slack", f"{{address: '{SLACK_HOOK}'}}"),
    provider("teams", "msteams", f"{{address: '{TEAMS_URL}'}}"),
    provider("hmac", "generic-hmac", f"{{token: {HMAC_KEY}}}", "https://hooks.example.com/flux"),
    provider("basic", "generic", f"{{address: 'https://flux:{BASIC_PASSWORD}@hooks.example.com/in'}}"),
])
SECRETS = [GITHUB_TOKEN, "abcdefghijklmnopqrstuvwx", "T0123ABCD", TEAMS_SIG, BASIC_PASSWORD, HMAC_KEY,
           base64.b64encode(f"flux:{BASIC_PASSWORD}".encode()).decode()]


@pytest.fixture
def files(tmp_path):
    path = tmp_path / "providers.yaml"
    path.write_text(MANIFESTS)
    return str(path)


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def by_provider(out: str) -> dict[str, dict]:
    return {result["provider"]: result for result in json.loads(out)}


@pytest.mark.parametrize("output", ["json", "table"])
def test_render_masks_every_credential_by_default(files, capsys, output):
    code, out = run(capsys, "render", "-f", files, "--event", EVENT, "-o", output)
    assert code == 0, out
    for secret in SECRETS:
        assert secret not in out, secret
    assert "*****" in out


def test_masked_json_keeps_what_helps_to_check_the_request(files, capsys):
    _, out = run(capsys, "render", "-f", files, "--event", EVENT)
    results = by_provider(out)
    (github,) = results["flux-system/github"]["deliveries"]
    assert github["headers"]["Authorization"] == "Bearer *****"
    assert github["url"].startswith("https://api.github.com/repos/org/repo/statuses/")
    (slack,) = results["flux-system/slack"]["deliveries"]
    assert slack["url"] == "https://hooks.slack.com/services/*****/*****/*****"
    assert slack["body"]["attachments"]  # the body is still JSON, not a masked string
    (teams,) = results["flux-system/teams"]["deliveries"]
    assert teams["url"].startswith("https://prod-01.westeurope.logic.azure.com:443/workflows/*****/triggers/")
    assert "sig=*****" in teams["url"]
    (basic,) = results["flux-system/basic"]["deliveries"]
    assert basic["url"] == "https://flux:*****@hooks.example.com/in"
    (hmac_request,) = results["flux-system/hmac"]["deliveries"]
    signature = hmac_request["headers"]["X-Signature"]
    assert signature.startswith("sha256=") and "*****" not in signature  # derived, not the key: kept


def test_show_secrets_prints_them_as_they_go_out(files, capsys):
    _, out = run(capsys, "render", "-f", files, "--event", EVENT, "--show-secrets")
    results = by_provider(out)
    assert results["flux-system/github"]["deliveries"][0]["headers"]["Authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert results["flux-system/slack"]["deliveries"][0]["url"] == SLACK_HOOK
    assert TEAMS_SIG in results["flux-system/teams"]["deliveries"][0]["url"]
    assert BASIC_PASSWORD in results["flux-system/basic"]["deliveries"][0]["url"]
    assert "*****" not in out


def test_table_has_one_line_per_request_or_reason(files, capsys, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(provider("typo", "slak", "{address: 'https://hooks.example.com/x'}"))
    code, out = run(capsys, "render", "-f", files, str(broken), "--event", EVENT, "-o", "table")
    lines = out.splitlines()
    assert lines[0].split() == ["PROVIDER", "TYPE", "OUTCOME", "REQUEST", "/", "REASON"]
    slack = next(line for line in lines if line.startswith("flux-system/slack"))
    assert slack.split() == ["flux-system/slack", "slack", "deliver", "POST",
                             "https://hooks.slack.com/services/*****/*****/*****"]
    typo = next(line for line in lines if line.startswith("flux-system/typo"))
    assert typo.split()[1:3] == ["slak", "error"] and "not supported" in typo
    assert code == 1  # an error row: render exits 1 as with JSON


def test_an_error_text_is_masked_too(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(provider("bad", "generic", f"{{address: 'hooks.example.com/{GITHUB_TOKEN}'}}"))
    code, out = run(capsys, "render", "-f", str(path), "--event", EVENT)
    (result,) = json.loads(out)
    assert code == 1 and result["error"] and GITHUB_TOKEN not in out


def test_mask_url_leaves_a_url_without_secrets_alone():
    forms = secret_forms([SLACK_HOOK])
    assert mask_url("https://example.com/a/b?x=1", forms) == "https://example.com/a/b?x=1"
    assert mask_url(SLACK_HOOK, forms) == "https://hooks.slack.com/services/*****/*****/*****"


def test_a_proxy_with_credentials_is_masked(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text(provider("proxied", "generic", "{address: 'https://hooks.example.com/in', "
                                                   f"proxy: 'http://corp:{BASIC_PASSWORD}@proxy.example:3128'}}"))
    _, out = run(capsys, "render", "-f", str(path), "--event", EVENT)
    (delivery,) = json.loads(out)[0]["deliveries"]
    assert delivery["proxy"] == "http://corp:*****@proxy.example:3128" and BASIC_PASSWORD not in out
