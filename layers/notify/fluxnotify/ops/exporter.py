"""`fluxnotify export`: stored Providers and Alerts back as YAML, Secrets as placeholders."""

from __future__ import annotations

import sys
from typing import TextIO

import yaml

from fluxnotify.config.aws import secret_name
from fluxnotify.model.manifests import (
    Alert,
    Provider,
)
from fluxnotify.ops.stored import (
    PLACEHOLDER,
    AwsError,
    Stored,
    clients,
    config_prefix,
    secret_refs,
    secrets_prefix,
)

# --------------------------------------------------------------------------- export


def export_documents(stored: Stored) -> tuple[list[dict], list[str]]:
    """Stored Providers and Alerts in Flux shape, then a Secret manifest (placeholder values)
    per Secret the stored Providers reference; and warnings for what could not be exported."""
    objects, broken = stored.objects()
    warnings = [f"{c.source}: skipped: {c.message}" for c in broken]
    providers = sorted((o for o in objects if isinstance(o, Provider)), key=lambda o: o.metadata.key)
    alerts = sorted((o for o in objects if isinstance(o, Alert)), key=lambda o: o.metadata.key)
    documents: list[dict] = [o.as_dict() for o in providers + alerts]
    refs = sorted({(p.metadata.namespace, ref) for p in providers for ref in secret_refs(p)})
    for ns, ref in refs:
        name = secret_name(stored.secrets_prefix, ns, ref)
        current = stored.secret_by_name(name)
        if current.data is None:
            problem = "not found" if current.state != "present" else "not a JSON object"
            warnings.append(
                f"Secret {ns}/{ref}: {name} in Secrets Manager is {problem}; exported without keys"
            )
        placeholder = PLACEHOLDER.format(name=name)
        documents.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": ref, "namespace": ns},
                "type": "Opaque",
                "stringData": {key: placeholder for key in (current.data or {})},
            }
        )
    return documents, warnings


def dump_yaml(documents: list[dict], header: str = "") -> str:
    body = yaml.safe_dump_all(
        documents, sort_keys=False, default_flow_style=False, allow_unicode=True, explicit_start=True
    )
    return header + body


def export_yaml(
    *, config_prefix_: str | None = None, secrets_prefix_: str | None = None, ssm=None, secrets=None
) -> tuple[str, list[str]]:
    stored = Stored(*clients(ssm, secrets), config_prefix(config_prefix_), secrets_prefix(secrets_prefix_))
    documents, warnings = export_documents(stored)
    header = (
        f"# Exported by fluxnotify from SSM {stored.config_prefix} and Secrets Manager "
        f"{stored.secrets_prefix}/.\n# Secret values are placeholders: `fluxnotify import` keeps "
        "the stored value for a key whose value is still its placeholder.\n"
    )
    return dump_yaml(documents, header), warnings


def export_command(
    *,
    output: str | None = None,
    config_prefix_: str | None = None,
    secrets_prefix_: str | None = None,
    ssm=None,
    secrets=None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`fluxnotify export`: 0 done, 1 something stored could not be exported, 2 AWS or file error."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        text, warnings = export_yaml(
            config_prefix_=config_prefix_, secrets_prefix_=secrets_prefix_, ssm=ssm, secrets=secrets
        )
    except AwsError as problem:
        print(f"fluxnotify: AWS error: {problem}", file=err)
        return 2
    if output and output != "-":
        try:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as problem:
            print(f"fluxnotify: {output}: cannot write file: {problem.strerror or problem}", file=err)
            return 2
    else:
        out.write(text)
    for warning in warnings:
        print(f"fluxnotify: warning: {warning}", file=err)
    return 1 if warnings else 0
