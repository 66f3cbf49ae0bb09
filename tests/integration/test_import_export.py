"""`fluxnotify import`, `export` and `validate --from-aws` against moto's SSM and Secrets Manager,
run in-process through `fluxnotify.ops.cli.main`."""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from fluxnotify.model.manifests import Alert, Provider, Secret, load_yaml
from fluxnotify.ops.cli import main
from fluxnotify.ops.importer import import_files

SLACK_SECRET = "https://hooks.slack.com/services/T0ZQX/B0ZQX/sl4ck-ZQX-distinct-771"
HMAC_SECRET = "hmac-key-QWX-distinct-9931"
NEW_HMAC_SECRET = "hmac-key-JKV-rotated-5520"
SECRET_VALUES = (SLACK_SECRET, HMAC_SECRET, NEW_HMAC_SECRET, "sl4ck-ZQX-distinct-771")

PROVIDER_SLACK = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata:
  name: slack
  namespace: flux-system
spec:
  type: slack
  channel: {channel}
  secretRef:
    name: slack-url
"""
SECRET_SLACK = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: slack-url
  namespace: flux-system
stringData:
  address: {SLACK_SECRET}
"""
PROVIDER_AUDIT = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta2
kind: Provider
metadata:
  name: audit
  namespace: flux-system
spec:
  type: generic-hmac
  address: https://audit.example.com/flux
  secretRef:
    name: audit-key
"""
SECRET_AUDIT = """\
apiVersion: v1
kind: Secret
metadata:
  name: audit-key
  namespace: flux-system
stringData:
  token: {token}
"""
ALERT_ON_CALL = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: on-call
  namespace: flux-system
spec:
  providerRef:
    name: slack
  eventSeverity: error
  eventSources:
    - kind: Kustomization
      name: '*'
"""
ALERT_AUDIT = """\
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata:
  name: audit
  namespace: flux-system
spec:
  providerRef:
    name: audit
  eventSources:
    - kind: GitRepository
      name: '*'
"""

SLACK_JSON = {
    "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
    "kind": "Provider",
    "metadata": {"name": "slack", "namespace": "flux-system"},
    "spec": {"type": "slack", "channel": "general", "secretRef": {"name": "slack-url"}},
}
AUDIT_JSON = {
    "apiVersion": "notification.toolkit.fluxcd.io/v1beta2",
    "kind": "Provider",
    "metadata": {"name": "audit", "namespace": "flux-system"},
    "spec": {
        "type": "generic-hmac",
        "address": "https://audit.example.com/flux",
        "secretRef": {"name": "audit-key"},
    },
}
ON_CALL_JSON = {
    "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
    "kind": "Alert",
    "metadata": {"name": "on-call", "namespace": "flux-system"},
    "spec": {
        "providerRef": {"name": "slack"},
        "eventSeverity": "error",
        "eventSources": [{"kind": "Kustomization", "name": "*"}],
    },
}
ALL_PARAMETERS = {
    "/fluxnotify/flux-system/Provider/slack",
    "/fluxnotify/flux-system/Provider/audit",
    "/fluxnotify/flux-system/Alert/on-call",
    "/fluxnotify/flux-system/Alert/audit",
}


def manifests(*, channel="general", token=HMAC_SECRET, audit=True) -> str:
    docs = [PROVIDER_SLACK.format(channel=channel), SECRET_SLACK, ALERT_ON_CALL]
    if audit:
        docs += [PROVIDER_AUDIT, SECRET_AUDIT.format(token=token), ALERT_AUDIT]
    return "---\n".join(docs)


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("CONFIG_PREFIX", raising=False)
    monkeypatch.delenv("SECRETS_PREFIX", raising=False)
    # These tests keep Secrets in Secrets Manager (a stack deployed with SecretStore=secretsmanager);
    # the default store, SSM SecureString, is tested in tests/unit/config/test_aws_snapshot.py and below.
    monkeypatch.setenv("SECRET_STORE", "secretsmanager")
    with mock_aws():
        yield {"ssm": boto3.client("ssm"), "secrets": boto3.client("secretsmanager")}


def test_by_default_import_stores_secrets_where_the_dispatcher_reads_them(aws, write, monkeypatch, capsys):
    """SECRET_STORE's default is the template's SecretStore default: SSM SecureString."""
    monkeypatch.delenv("SECRET_STORE")
    assert main(["import", "-f", write(manifests())]) == 0
    stored = aws["ssm"].get_parameter(Name="/fluxnotify-secrets/flux-system/slack-url", WithDecryption=True)
    assert stored["Parameter"]["Type"] == "SecureString"
    assert aws["secrets"].list_secrets()["SecretList"] == []
    assert main(["validate", "--from-aws"]) == 0


@pytest.fixture
def write(tmp_path):
    def write(text: str, name: str = "manifests.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def parameters(aws, path="/fluxnotify") -> dict[str, dict]:
    found = {}
    for page in aws["ssm"].get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=True):
        found.update({p["Name"]: p for p in page["Parameters"] if "/_meta/" not in p["Name"]})  # version marker
    return found


def secret_names(aws) -> set[str]:
    return {s["Name"] for s in aws["secrets"].list_secrets()["SecretList"]}


def secret_json(aws, name: str) -> dict:
    return json.loads(aws["secrets"].get_secret_value(SecretId=name)["SecretString"])


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    for value in SECRET_VALUES:
        assert value not in captured.out, f"secret value printed on stdout: {captured.out}"
        assert value not in captured.err, f"secret value printed on stderr: {captured.err}"
    return code, captured.out, captured.err


def test_import_creates_parameters_and_secrets_the_dispatcher_reads(aws, write, capsys):
    code, out, err = run(capsys, "import", "-f", write(manifests()))
    assert code == 0, err

    stored = parameters(aws)
    assert set(stored) == ALL_PARAMETERS
    assert all(p["Type"] == "String" for p in stored.values())
    compact = {"separators": (",", ":")}
    assert stored["/fluxnotify/flux-system/Provider/slack"]["Value"] == json.dumps(SLACK_JSON, **compact)
    assert stored["/fluxnotify/flux-system/Provider/audit"]["Value"] == json.dumps(AUDIT_JSON, **compact)
    assert stored["/fluxnotify/flux-system/Alert/on-call"]["Value"] == json.dumps(ON_CALL_JSON, **compact)
    assert secret_names(aws) == {"fluxnotify/flux-system/slack-url", "fluxnotify/flux-system/audit-key"}
    assert secret_json(aws, "fluxnotify/flux-system/slack-url") == {"address": SLACK_SECRET}
    assert secret_json(aws, "fluxnotify/flux-system/audit-key") == {"token": HMAC_SECRET}

    lines = out.splitlines()
    assert lines == [
        "+ Secret flux-system/slack-url (keys: address)",
        "+ Secret flux-system/audit-key (keys: token)",
        "+ Provider flux-system/slack",
        "+ Provider flux-system/audit",
        "+ Alert flux-system/on-call",
        "+ Alert flux-system/audit",
        "total: 6 new, 0 changed, 0 unchanged, 0 pruned",
    ]

    # What the dispatcher reads back (store/aws.py) is what the files said.
    from aws_lambda_powertools.utilities import parameters as powertools

    from fluxnotify.config.aws import AwsStore

    powertools.clear_caches()
    store = AwsStore("/fluxnotify", "fluxnotify", ttl=0)
    assert store.provider("flux-system", "slack").spec.channel == "general"
    assert [a.metadata.key for a in store.alerts()] == ["flux-system/audit", "flux-system/on-call"]
    assert store.secret("flux-system", "slack-url") == {"address": SLACK_SECRET}


def test_second_import_changes_nothing(aws, write, capsys):
    path = write(manifests())
    assert run(capsys, "import", "-f", path)[0] == 0
    versions = {name: p["Version"] for name, p in parameters(aws).items()}
    secret_versions = {
        name: aws["secrets"].describe_secret(SecretId=name)["VersionIdsToStages"]
        for name in secret_names(aws)
    }

    code, out, _ = run(capsys, "import", "-f", path)
    assert code == 0
    assert out.splitlines() == [
        "= Secret flux-system/slack-url",
        "= Secret flux-system/audit-key",
        "= Provider flux-system/slack",
        "= Provider flux-system/audit",
        "= Alert flux-system/on-call",
        "= Alert flux-system/audit",
        "total: 0 new, 0 changed, 6 unchanged, 0 pruned",
    ]
    assert {name: p["Version"] for name, p in parameters(aws).items()} == versions
    assert {
        name: aws["secrets"].describe_secret(SecretId=name)["VersionIdsToStages"]
        for name in secret_names(aws)
    } == secret_versions


def test_changed_provider_and_secret_are_updated_and_only_key_names_printed(aws, write, capsys):
    assert run(capsys, "import", "-f", write(manifests()))[0] == 0

    code, out, _ = run(capsys, "import", "-f", write(manifests(channel="ops", token=NEW_HMAC_SECRET)))
    assert code == 0
    lines = out.splitlines()
    assert "~ Provider flux-system/slack" in lines
    assert "~ Secret flux-system/audit-key (keys changed: token)" in lines
    assert "= Provider flux-system/audit" in lines
    assert "= Secret flux-system/slack-url" in lines
    assert lines[-1] == "total: 0 new, 2 changed, 4 unchanged, 0 pruned"

    stored = parameters(aws)
    assert stored["/fluxnotify/flux-system/Provider/slack"]["Version"] == 2
    assert json.loads(stored["/fluxnotify/flux-system/Provider/slack"]["Value"])["spec"]["channel"] == "ops"
    assert stored["/fluxnotify/flux-system/Provider/audit"]["Version"] == 1
    assert secret_json(aws, "fluxnotify/flux-system/audit-key") == {"token": NEW_HMAC_SECRET}


def test_prune_deletes_only_what_is_under_the_prefixes_and_missing_from_the_files(aws, write, capsys):
    assert run(capsys, "import", "-f", write(manifests()))[0] == 0
    # Neighbours that prune must not touch: other prefixes sharing the same leading characters,
    # and a name under the prefix that is not in fluxnotify's layout.
    aws["ssm"].put_parameter(Name="/fluxnotify-other/flux-system/Provider/x", Type="String", Value="{}")
    aws["ssm"].put_parameter(Name="/other/flux-system/Alert/y", Type="String", Value="{}")
    aws["ssm"].put_parameter(Name="/fluxnotify/settings", Type="String", Value="keep")
    aws["secrets"].create_secret(Name="fluxnotify-legacy/flux-system/audit-key", SecretString="{}")
    aws["secrets"].create_secret(Name="webhook-token", SecretString="tok")

    code, out, err = run(capsys, "import", "--prune", "-f", write(manifests(audit=False)))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[-4:] == [
        "- Alert flux-system/audit",
        "- Provider flux-system/audit",
        "- Secret flux-system/audit-key",
        "total: 0 new, 0 changed, 3 unchanged, 3 pruned",
    ]
    assert "leaving /fluxnotify/settings alone" in err

    assert set(parameters(aws)) == {
        "/fluxnotify/flux-system/Provider/slack",
        "/fluxnotify/flux-system/Alert/on-call",
        "/fluxnotify/settings",
    }
    assert set(parameters(aws, "/fluxnotify-other")) == {"/fluxnotify-other/flux-system/Provider/x"}
    assert set(parameters(aws, "/other")) == {"/other/flux-system/Alert/y"}
    assert secret_names(aws) == {
        "fluxnotify/flux-system/slack-url",
        "fluxnotify-legacy/flux-system/audit-key",
        "webhook-token",
    }

    # The pruned secret is only scheduled for deletion; importing it again brings it back.
    code, out, err = run(capsys, "import", "-f", write(manifests()))
    assert code == 0, err
    assert "+ Secret flux-system/audit-key (keys: token)" in out.splitlines()
    assert secret_json(aws, "fluxnotify/flux-system/audit-key") == {"token": HMAC_SECRET}


def test_dry_run_writes_nothing(aws, write, capsys):
    code, out, _ = run(capsys, "import", "--dry-run", "-f", write(manifests()))
    assert code == 0
    assert parameters(aws) == {}
    assert secret_names(aws) == set()
    lines = out.splitlines()
    assert all(line.startswith("(dry run) ") for line in lines)
    assert "(dry run) + Provider flux-system/slack" in lines
    assert lines[-1] == "(dry run) total: 6 new, 0 changed, 0 unchanged, 0 pruned"

    assert run(capsys, "import", "-f", write(manifests()))[0] == 0
    before = {name: p["Version"] for name, p in parameters(aws).items()}
    code, out, _ = run(
        capsys,
        "import",
        "--dry-run",
        "--prune",
        "-f",
        write(manifests(channel="ops", audit=False, token=NEW_HMAC_SECRET)),
    )
    assert code == 0
    assert "(dry run) ~ Provider flux-system/slack" in out.splitlines()
    assert "(dry run) - Secret flux-system/audit-key" in out.splitlines()
    assert {name: p["Version"] for name, p in parameters(aws).items()} == before
    assert secret_json(aws, "fluxnotify/flux-system/audit-key") == {"token": HMAC_SECRET}


def test_custom_prefixes_from_flags_and_environment(aws, write, capsys, monkeypatch):
    code, _, err = run(
        capsys,
        "import",
        "--config-prefix",
        "team/a",
        "--secrets-prefix",
        "vault/a",
        "-f",
        write(manifests(audit=False)),
    )
    assert code == 0, err
    assert set(parameters(aws, "/team/a")) == {
        "/team/a/flux-system/Provider/slack",
        "/team/a/flux-system/Alert/on-call",
    }
    assert secret_names(aws) == {"vault/a/flux-system/slack-url"}

    monkeypatch.setenv("CONFIG_PREFIX", "/team/a")
    monkeypatch.setenv("SECRETS_PREFIX", "vault/a")
    code, out, _ = run(capsys, "import", "-f", write(manifests(audit=False)))
    assert code == 0
    assert out.splitlines()[-1] == "total: 0 new, 0 changed, 3 unchanged, 0 pruned"


def test_export_round_trips_and_never_contains_secret_values(aws, write, capsys, tmp_path):
    source = write(manifests())
    assert run(capsys, "import", "-f", source)[0] == 0
    exported = tmp_path / "exported.yaml"
    code, out, err = run(capsys, "export", "-o", str(exported))
    assert code == 0, err
    text = exported.read_text()
    for value in SECRET_VALUES:
        assert value not in text

    original = load_yaml(manifests())
    back = load_yaml(text)

    def flux(objects):
        return sorted(
            (o.kind, o.metadata.key, json.dumps(o.as_dict(), sort_keys=True))
            for o in objects
            if isinstance(o, Provider | Alert)
        )

    assert flux(back) == flux(original)
    assert len(flux(back)) == 4
    secrets = {o.metadata.key: o.data for o in back if isinstance(o, Secret)}
    assert secrets == {
        "flux-system/slack-url": {"address": "<stored in Secrets Manager: fluxnotify/flux-system/slack-url>"},
        "flux-system/audit-key": {"token": "<stored in Secrets Manager: fluxnotify/flux-system/audit-key>"},
    }

    # To stdout as well; the exported file can be imported again without touching credentials.
    code, out, _ = run(capsys, "export")
    assert code == 0 and out == text
    code, out, _ = run(capsys, "import", "-f", str(exported))
    assert code == 0
    assert out.splitlines()[-1] == "total: 0 new, 0 changed, 6 unchanged, 0 pruned"
    assert secret_json(aws, "fluxnotify/flux-system/audit-key") == {"token": HMAC_SECRET}


def test_export_reports_a_referenced_secret_that_is_missing(aws, capsys):
    aws["ssm"].put_parameter(
        Name="/fluxnotify/flux-system/Provider/slack", Type="String", Value=json.dumps(SLACK_JSON)
    )
    code, out, err = run(capsys, "export")
    assert code == 1
    assert "fluxnotify/flux-system/slack-url in Secrets Manager is not found" in err
    secret = [o for o in load_yaml(out) if isinstance(o, Secret)]
    assert [(s.metadata.key, s.data) for s in secret] == [("flux-system/slack-url", {})]


def test_validate_from_aws_reports_missing_secret_and_provider(aws, capsys):
    ssm = aws["ssm"]
    for name, value in {
        "/fluxnotify/flux-system/Provider/slack": SLACK_JSON,  # its Secret is not stored
        "/fluxnotify/flux-system/Provider/audit": AUDIT_JSON,
        "/fluxnotify/flux-system/Alert/on-call": ON_CALL_JSON,
        "/fluxnotify/flux-system/Alert/orphan": {
            **ON_CALL_JSON,
            "metadata": {"name": "orphan", "namespace": "flux-system"},
            "spec": {**ON_CALL_JSON["spec"], "providerRef": {"name": "gone"}},
        },
    }.items():
        ssm.put_parameter(Name=name, Type="String", Value=json.dumps(value))
    ssm.put_parameter(Name="/fluxnotify/flux-system/Alert/broken", Type="String", Value="{not json")
    aws["secrets"].create_secret(
        Name="fluxnotify/flux-system/audit-key", SecretString=json.dumps({"token": HMAC_SECRET})
    )

    code, out, err = run(capsys, "validate", "--from-aws")
    assert code == 1, err
    *lines, summary = out.splitlines()
    rows = {line.split()[2]: line for line in lines}  # file (the SSM parameter), kind, name, …
    assert summary == "5 objects: 1 Ready, 4 not Ready, 0 warnings"
    assert "Ready=True" in rows["flux-system/audit"] and rows["flux-system/audit"].split()[1] == "Provider"
    assert "Ready=False ValidationFailed: failed to get secret 'flux-system/slack-url': secret not found" in (
        " ".join(rows["flux-system/slack"].split())
    )
    assert "Ready=False ProviderNotFound: spec.providerRef.name: Provider 'flux-system/gone' not found" in (
        " ".join(rows["flux-system/orphan"].split())
    )
    # Flux marks an Alert Ready only when its Provider is Ready (v1beta2 Alert status).
    assert "Ready=False ProviderNotReady" in " ".join(rows["flux-system/on-call"].split())
    assert "Ready=False" in rows["flux-system/broken"] and "not JSON" in rows["flux-system/broken"]

    code, out, _ = run(capsys, "validate", "--from-aws", "-o", "json")
    assert code == 1
    by_name = {(c["kind"], c["name"]): c for c in json.loads(out)}
    assert by_name[("Alert", "flux-system/orphan")]["status"] == "False"
    assert by_name[("Alert", "flux-system/orphan")]["reason"] == "ProviderNotFound"
    assert by_name[("Provider", "flux-system/slack")]["status"] == "False"

    aws["secrets"].create_secret(
        Name="fluxnotify/flux-system/slack-url", SecretString=json.dumps({"address": SLACK_SECRET})
    )
    ssm.delete_parameters(
        Names=["/fluxnotify/flux-system/Alert/orphan", "/fluxnotify/flux-system/Alert/broken"]
    )
    code, out, _ = run(capsys, "validate", "--from-aws")
    assert code == 0, out
    assert out.count("Ready=True") == 3


def test_validate_needs_exactly_one_source(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["validate"])
    assert raised.value.code == 2
    with pytest.raises(SystemExit):
        main(["validate", "--from-aws", "-f", "x.yaml"])
    assert "not allowed with" in capsys.readouterr().err


def test_import_refuses_objects_that_are_not_ready(aws, write, capsys):
    bad = manifests(audit=False).replace("eventSeverity: error", "eventSeverity: warning")
    code, out, err = run(capsys, "import", "-f", write(bad))
    assert code == 1
    assert out == ""
    assert "Alert flux-system/on-call is not Ready" in err
    assert "spec.eventSeverity: 'warning' must be info or error" in err
    assert "refusing to import" in err
    assert parameters(aws) == {} and secret_names(aws) == set()

    code, out, err = run(capsys, "import", "--force", "-f", write(bad))
    assert code == 0
    assert "Alert flux-system/on-call is not Ready" in err
    assert "+ Alert flux-system/on-call" in out.splitlines()


def test_import_refuses_a_structurally_bad_file(aws, write, capsys):
    bad = manifests(audit=False).replace("  type: slack\n", "")
    path = write(bad)
    code, out, err = run(capsys, "import", "-f", path)
    assert code == 1
    assert f"{path}: Provider flux-system/slack: spec.type" in err
    assert parameters(aws) == {} and secret_names(aws) == set()

    code, _, err = run(capsys, "import", "-f", write(manifests(audit=False) + "---\n" + ALERT_ON_CALL))
    assert code == 1
    assert "Alert flux-system/on-call is defined more than once" in err


def test_secret_kept_in_aws_satisfies_validation_unless_pruning(aws, write, capsys):
    aws["secrets"].create_secret(
        Name="fluxnotify/flux-system/slack-url", SecretString=json.dumps({"address": SLACK_SECRET})
    )
    without_secret = "---\n".join([PROVIDER_SLACK.format(channel="general"), ALERT_ON_CALL])

    code, _, err = run(capsys, "import", "--prune", "-f", write(without_secret))
    assert code == 1
    assert "failed to get secret 'flux-system/slack-url': secret not found" in err

    code, out, err = run(capsys, "import", "-f", write(without_secret))
    assert code == 0, err
    assert out.splitlines()[-1] == "total: 2 new, 0 changed, 0 unchanged, 0 pruned"
    assert secret_json(aws, "fluxnotify/flux-system/slack-url") == {"address": SLACK_SECRET}


def test_aws_error_is_one_line_with_exit_2(aws, write):
    ssm = boto3.client("ssm")
    stubber = Stubber(ssm)
    stubber.add_client_error(
        "get_parameters_by_path",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:iam::123456789012:user/ci is not authorized",
        http_status_code=400,
    )
    out, err = io.StringIO(), io.StringIO()
    with stubber:
        code = import_files([write(manifests())], ssm=ssm, secrets=aws["secrets"], out=out, err=err)
    assert code == 2
    message = err.getvalue()
    assert message.count("\n") == 1
    assert message.startswith("fluxnotify: AWS error: reading parameters under /fluxnotify:")
    assert "AccessDeniedException" in message and "Traceback" not in message
    assert out.getvalue() == ""


def test_cli_reports_unreachable_aws_without_a_traceback(write, capsys, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    for argv in (["export"], ["validate", "--from-aws"], ["import", "-f", write(manifests())]):
        code, out, err = run(capsys, *argv)
        assert code == 2, argv
        assert err.startswith("fluxnotify: AWS error:") and err.count("\n") == 1, err
        assert "region" in err.lower()
        assert out == ""


BAD_HEADERS = "Authorization: [Bearer tok-HDR-distinct-4410"


def test_messages_quoting_a_secret_are_redacted(aws, write, capsys):
    provider = PROVIDER_AUDIT
    secret = SECRET_AUDIT.format(token=HMAC_SECRET) + f"  headers: '{BAD_HEADERS}'\n"
    code, out, err = run(capsys, "import", "-f", write("---\n".join([provider, secret])))
    assert code == 1
    assert "failed to read headers from secret" in err
    assert "tok-HDR-distinct-4410" not in err + out

    aws["ssm"].put_parameter(
        Name="/fluxnotify/flux-system/Provider/audit", Type="String", Value=json.dumps(AUDIT_JSON)
    )
    aws["secrets"].create_secret(
        Name="fluxnotify/flux-system/audit-key",
        SecretString=json.dumps({"token": HMAC_SECRET, "headers": BAD_HEADERS}),
    )
    code, out, err = run(capsys, "validate", "--from-aws")
    assert code == 1
    assert "failed to read headers from secret" in out
    assert "tok-HDR-distinct-4410" not in err + out


def test_prune_with_an_empty_file_removes_everything_fluxnotify_stored(aws, write, capsys):
    assert run(capsys, "import", "-f", write(manifests()))[0] == 0
    aws["secrets"].create_secret(Name="webhook-token", SecretString="tok")
    code, out, err = run(capsys, "import", "--prune", "-f", "/dev/null")
    assert code == 0, err
    assert out.splitlines()[-1] == "total: 0 new, 0 changed, 0 unchanged, 6 pruned"
    assert parameters(aws) == {}
    assert secret_names(aws) == {"webhook-token"}


def test_validate_from_aws_sees_a_secret_still_in_secrets_manager_as_the_dispatcher_does(aws, write, monkeypatch,
                                                                                          capsys):
    """A stack from before SecretStore=ssm: its Secrets in Secrets Manager. The dispatcher
    reads them there (config/aws.py), so validate --from-aws finds them too, and a message
    never shows their values; import then stores them in SSM."""
    assert main(["import", "-f", write(manifests())]) == 0  # SECRET_STORE=secretsmanager (the fixture)
    monkeypatch.delenv("SECRET_STORE")  # the default: ssm
    capsys.readouterr()
    assert main(["validate", "--from-aws"]) == 0
    out = capsys.readouterr().out
    assert "Ready=False" not in out and "0 not Ready" in out and HMAC_SECRET not in out
    assert main(["import", "-f", write(manifests())]) == 0
    moved = aws["ssm"].get_parameter(Name="/fluxnotify-secrets/flux-system/slack-url", WithDecryption=True)
    assert moved["Parameter"]["Type"] == "SecureString"
