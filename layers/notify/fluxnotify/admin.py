"""Operating the AWS config store: `fluxnotify import`, `export` and `validate --from-aws`.

The layout is the one `store.aws.AwsStore` reads (README "Configure Providers, Alerts and
Secrets"):

* ``<CONFIG_PREFIX>/<namespace>/<Kind>/<name>``: one SSM String parameter per Provider or
  Alert, the manifest as compact JSON (``as_dict()``; the dispatcher re-parses it with
  ``parse_object``);
* ``<SECRETS_PREFIX>/<namespace>/<name>``: one Secrets Manager secret per Kubernetes
  Secret, a JSON object of its decoded keys.

Everything here takes boto3 clients (or creates them from the default session, so
``AWS_ENDPOINT_URL`` and the usual credentials apply). Secret values are read to compare
and validate, and are never printed: summaries name secrets and, for a changed one, the
keys that changed.

``export`` writes Secrets with placeholder values (``<stored in Secrets Manager: NAME>``).
``import`` understands them: a placeholder keeps the value stored under NAME, so an
exported file can be edited and imported again without overwriting credentials.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TextIO

import yaml

from .manifests import Alert, Manifest, ManifestError, ObjectMeta, Provider, Secret, parse_object
from .options import redact
from .store.aws import parameter_name, secret_name
from .validation import Condition, alert_problem, conditions

KINDS = ("Provider", "Alert")
PLACEHOLDER = "<stored in Secrets Manager: {name}>"
_PLACEHOLDER = re.compile(r"^<stored in Secrets Manager: (?P<name>[^<>]+)>$")
_STORED = "\0stored"  # source of objects read from AWS only to help validate file objects


class AwsError(RuntimeError):
    """AWS refused or could not be reached; the message is one line, without secret values."""


class ImportRefused(ValueError):
    """The files cannot be imported as they are (invalid objects, unresolved placeholders)."""


# --------------------------------------------------------------------------- AWS access


def config_prefix(value: str | None = None) -> str:
    """The SSM path prefix: argument, else CONFIG_PREFIX, else /fluxnotify (always with a leading /)."""
    prefix = (value or os.environ.get("CONFIG_PREFIX") or "/fluxnotify").rstrip("/")
    return prefix if prefix.startswith("/") else "/" + prefix


def secrets_prefix(value: str | None = None) -> str:
    """The Secrets Manager name prefix: argument, else SECRETS_PREFIX, else fluxnotify."""
    return (value or os.environ.get("SECRETS_PREFIX") or "fluxnotify").rstrip("/")


def clients(ssm=None, secrets=None):
    """boto3 SSM and Secrets Manager clients from the default session unless given."""
    if ssm is None or secrets is None:
        import boto3
        from botocore.config import Config

        config = Config(retries={"mode": "standard", "max_attempts": 8})
        try:
            ssm = ssm or boto3.client("ssm", config=config)
            secrets = secrets or boto3.client("secretsmanager", config=config)
        except Exception as err:  # NoRegionError, unknown profile, ...
            raise AwsError(_one_line(err)) from None
    return ssm, secrets


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _error_code(err: BaseException) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _call(what: str, function: Callable[..., Any], hide: Iterable[str] = (), **kwargs) -> Any:
    """One AWS call; botocore errors become AwsError naming what was being done."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return function(**kwargs)
    except (ClientError, BotoCoreError) as err:
        secrets = sorted({v for v in hide if len(v) >= 4}, key=len, reverse=True)
        raise AwsError(f"{what}: {redact(_one_line(err), secrets)}") from None


@dataclass
class StoredSecret:
    name: str
    state: str  # "present", "absent" or "deleted" (scheduled for deletion)
    data: dict[str, str] | None = None  # None when absent or not a JSON object of strings


class Stored:
    """What is stored under the prefixes, read lazily and cached for one command."""

    def __init__(self, ssm, secrets, config_prefix: str, secrets_prefix: str):
        self.ssm, self.secrets = ssm, secrets
        self.config_prefix, self.secrets_prefix = config_prefix, secrets_prefix
        self._parameters: dict[str, dict] | None = None
        self._secret_names: list[str] | None = None
        self._secret_values: dict[str, StoredSecret] = {}

    def parameters(self) -> dict[str, dict]:
        """Every parameter under the config prefix: name -> {"Value", "Type", "Version"}."""
        if self._parameters is None:
            found: dict[str, dict] = {}
            token = None
            while True:
                kwargs: dict[str, Any] = {"Path": self.config_prefix, "Recursive": True}
                if token:
                    kwargs["NextToken"] = token
                page = _call(
                    f"reading parameters under {self.config_prefix}",
                    self.ssm.get_parameters_by_path,
                    **kwargs,
                )
                for item in page.get("Parameters", []):
                    found[item["Name"]] = item
                token = page.get("NextToken")
                if not token:
                    break
            self._parameters = found
        return self._parameters

    def parameter_identity(self, name: str) -> tuple[str, str, str] | None:
        """(kind, namespace, name) for a parameter in fluxnotify's layout, else None."""
        rest = name[len(self.config_prefix) + 1 :] if name.startswith(self.config_prefix + "/") else ""
        parts = rest.split("/")
        if len(parts) == 3 and parts[1] in KINDS and all(parts):
            return parts[1], parts[0], parts[2]
        return None

    def secret_names(self) -> list[str]:
        """Names of the secrets under the secrets prefix (not those scheduled for deletion)."""
        if self._secret_names is None:
            start = self.secrets_prefix + "/"
            names: list[str] = []
            token = None
            while True:
                kwargs: dict[str, Any] = {"Filters": [{"Key": "name", "Values": [start]}]}
                if token:
                    kwargs["NextToken"] = token
                page = _call(f"listing secrets under {start}", self.secrets.list_secrets, **kwargs)
                names += [s["Name"] for s in page.get("SecretList", []) if s["Name"].startswith(start)]
                token = page.get("NextToken")
                if not token:
                    break
            self._secret_names = sorted(set(names))
        return self._secret_names

    def secret_identity(self, name: str) -> tuple[str, str] | None:
        """(namespace, name) for a secret in fluxnotify's layout, else None."""
        parts = name[len(self.secrets_prefix) + 1 :].split("/")
        return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None

    def secret_by_name(self, name: str) -> StoredSecret:
        if name not in self._secret_values:
            from botocore.exceptions import ClientError

            try:
                answer = self.secrets.get_secret_value(SecretId=name)
            except ClientError as err:
                code = _error_code(err)
                if code == "ResourceNotFoundException":
                    self._secret_values[name] = StoredSecret(name, "absent")
                    return self._secret_values[name]
                if code == "InvalidRequestException" and "delet" in str(err).lower():
                    self._secret_values[name] = StoredSecret(name, "deleted")
                    return self._secret_values[name]
                raise AwsError(f"reading secret {name}: {_one_line(err)}") from None
            except Exception as err:  # BotoCoreError: endpoint, credentials
                raise AwsError(f"reading secret {name}: {_one_line(err)}") from None
            self._secret_values[name] = StoredSecret(
                name, "present", _json_object(answer.get("SecretString"))
            )
        return self._secret_values[name]

    def secret_data_read(self) -> list[dict[str, str] | None]:
        """The secret values read so far (to keep them out of messages)."""
        return [s.data for s in self._secret_values.values()]

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The secret as the dispatcher sees it: a dict of its keys, or None."""
        return self.secret_by_name(secret_name(self.secrets_prefix, namespace, name)).data

    def objects(self) -> tuple[list[Provider | Alert], list[Condition]]:
        """The stored Providers and Alerts (sorted by parameter name), and a not-Ready
        condition for each parameter under the prefix that cannot be used."""
        objects: list[Provider | Alert] = []
        broken: list[Condition] = []
        for name, item in sorted(self.parameters().items()):
            identity = self.parameter_identity(name)
            kind, key = (identity[0], f"{identity[1]}/{identity[2]}") if identity else ("Parameter", name)
            try:
                if identity is None:
                    raise ManifestError(
                        f"ssm:{name}: not a {'/'.join(KINDS)} parameter "
                        f"({self.config_prefix}/<namespace>/<Kind>/<name>)"
                    )
                try:
                    document = json.loads(item.get("Value", ""))
                except ValueError as err:
                    raise ManifestError(f"ssm:{name}: not JSON: {err}") from None
                obj = parse_object(document, source=f"ssm:{name}")
                if not isinstance(obj, Provider | Alert):
                    raise ManifestError(f"ssm:{name}: holds no Provider or Alert")
            except ManifestError as err:
                broken.append(Condition(kind, key, False, "ValidationFailed", str(err), f"ssm:{name}"))
                continue
            objects.append(obj)
        return objects, broken


def _json_object(text: str | None) -> dict[str, str] | None:
    try:
        data = json.loads(text) if text is not None else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(k): str(v) for k, v in data.items()}


def secret_refs(provider: Provider) -> list[str]:
    """Names of the Secrets a Provider references (secretRef, certSecretRef, proxySecretRef)."""
    spec = provider.spec
    refs = (spec.secret_ref, spec.cert_secret_ref, spec.proxy_secret_ref)
    return list(dict.fromkeys(ref.name for ref in refs if ref is not None))


def _secret_values(objects: Iterable[Manifest], extra: Iterable[dict[str, str] | None] = ()) -> list[str]:
    """Strings to keep out of messages: each secret value, each of its lines and each longer
    word (a YAML error quotes a line of a `headers` value, sometimes cut at the start)."""
    values = [v for o in objects if isinstance(o, Secret) for v in o.data.values()]
    values += [v for data in extra if data for v in data.values()]
    pieces = {v for v in values if len(v) >= 4}
    pieces |= {line.strip() for v in values for line in v.splitlines() if len(line.strip()) >= 4}
    pieces |= {word for v in values for word in v.split() if len(word) >= 8}
    return sorted(pieces, key=len, reverse=True)


def _redacted(found: list[Condition], secrets: list[str]) -> list[Condition]:
    return [dataclasses.replace(c, message=redact(c.message, secrets)) for c in found]


# --------------------------------------------------------------------------- import


@dataclass(frozen=True)
class Change:
    """One line of the import summary and the write (or delete) it stands for."""

    action: str  # "+" new, "~" changed, "=" unchanged, "-" pruned
    kind: str
    key: str  # namespace/name
    target: str  # the parameter or secret name
    value: str | None = None  # what to write (never printed)
    note: str = ""  # printed after the line; for Secrets, key names only
    restore: bool = False  # a secret scheduled for deletion: restore it, then write

    def line(self) -> str:
        return f"{self.action} {self.kind} {self.key}" + (f" ({self.note})" if self.note else "")


def check_unique(objects: list[Manifest]) -> None:
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        if (obj.kind, obj.metadata.key) in seen:
            raise ImportRefused(f"{obj.source}: {obj.kind} {obj.metadata.key} is defined more than once")
        seen.add((obj.kind, obj.metadata.key))


def resolve_placeholders(objects: list[Manifest], stored: Stored) -> list[Manifest]:
    """Secrets whose values are export placeholders take the stored value of that key."""
    result: list[Manifest] = []
    for obj in objects:
        if isinstance(obj, Secret) and any(_PLACEHOLDER.match(v) for v in obj.data.values()):
            data = dict(obj.data)
            for key, value in obj.data.items():
                match = _PLACEHOLDER.match(value)
                if not match:
                    continue
                source = stored.secret_by_name(match["name"])
                if source.data is None or key not in source.data:
                    raise ImportRefused(
                        f"{obj.source}: Secret {obj.metadata.key}: key {key!r} is a placeholder, but secret "
                        f"{match['name']} in Secrets Manager has no key {key!r}; put the real value in the file"
                    )
                data[key] = source.data[key]
            obj = dataclasses.replace(obj, data=data)
        result.append(obj)
    return result


def import_conditions(objects: list[Manifest], stored: Stored | None, prune: bool) -> list[Condition]:
    """Ready conditions of the Providers and Alerts in the files, as the dispatcher will see
    them after the import: a Secret or Provider missing from the files may already be stored
    in AWS (looked up only then), unless --prune is about to delete what the files lack."""
    found = conditions(objects)
    if all(c.ready for c in found) or prune or stored is None:
        return found
    secrets = {o.metadata.key for o in objects if isinstance(o, Secret)}
    extras: list[Manifest] = []
    for obj in objects:
        if isinstance(obj, Provider):
            ns = obj.metadata.namespace
            for ref in secret_refs(obj):
                if f"{ns}/{ref}" not in secrets and (data := stored.secret(ns, ref)) is not None:
                    secrets.add(f"{ns}/{ref}")
                    extras.append(Secret(ObjectMeta(ref, ns), data, _STORED))
    checked = conditions(objects + extras)  # Secrets add no condition: same order as `found`
    provider_keys: set[str] | None = None
    result = []
    for condition, obj in zip(checked, [o for o in objects if isinstance(o, Provider | Alert)], strict=True):
        if isinstance(obj, Alert) and condition.reason == "ProviderNotFound":
            if provider_keys is None:
                provider_keys = {o.metadata.key for o in objects if isinstance(o, Provider)}
                provider_keys |= {
                    f"{i[1]}/{i[2]}"
                    for n in stored.parameters()
                    if (i := stored.parameter_identity(n)) and i[0] == "Provider"
                }
            problem = alert_problem(obj, provider_keys)
            ready, reason, message = (
                (True, "Succeeded", "Initialized") if problem is None else (False, *problem)
            )
            condition = dataclasses.replace(condition, ready=ready, reason=reason, message=message)
        result.append(condition)
    return result


def plan_import(objects: list[Manifest], stored: Stored, prune: bool = False) -> list[Change]:
    """What `import` does, in the order it does it: Secrets, Providers, Alerts (so a new
    Provider finds its Secret), then with prune the deletions (Alerts, Providers, Secrets)."""
    changes: list[Change] = []
    wanted_secrets: set[str] = set()
    for obj in objects:
        if not isinstance(obj, Secret):
            continue
        name = secret_name(stored.secrets_prefix, obj.metadata.namespace, obj.metadata.name)
        wanted_secrets.add(name)
        value = json.dumps(obj.data, ensure_ascii=False)
        current = stored.secret_by_name(name)
        if current.state != "present":
            changes.append(
                Change(
                    "+",
                    "Secret",
                    obj.metadata.key,
                    name,
                    value,
                    _keys_note("keys", obj.data),
                    restore=current.state == "deleted",
                )
            )
        elif current.data == obj.data:
            changes.append(Change("=", "Secret", obj.metadata.key, name))
        else:
            changes.append(
                Change("~", "Secret", obj.metadata.key, name, value, _secret_diff(current.data, obj.data))
            )
    wanted_parameters: set[str] = set()
    parameters = stored.parameters()
    for kind in KINDS:
        for obj in objects:
            if obj.kind != kind:
                continue
            name = parameter_name(stored.config_prefix, obj.metadata.namespace, kind, obj.metadata.name)
            wanted_parameters.add(name)
            document = obj.as_dict()  # type: ignore[union-attr]
            value = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
            current = parameters.get(name)
            if current is None:
                changes.append(Change("+", kind, obj.metadata.key, name, value))
            elif current.get("Type") == "String" and _json_or_none(current.get("Value")) == document:
                changes.append(Change("=", kind, obj.metadata.key, name))
            else:
                changes.append(Change("~", kind, obj.metadata.key, name, value))
    if prune:
        for kind in reversed(KINDS):
            for name in sorted(parameters):
                identity = stored.parameter_identity(name)
                if identity and identity[0] == kind and name not in wanted_parameters:
                    changes.append(Change("-", kind, f"{identity[1]}/{identity[2]}", name))
        for name in stored.secret_names():
            identity = stored.secret_identity(name)
            if identity and name not in wanted_secrets:
                changes.append(Change("-", "Secret", "/".join(identity), name))
    return changes


def left_alone(stored: Stored) -> list[str]:
    """Names under the prefixes that are not in fluxnotify's layout (prune never deletes them)."""
    names = [n for n in sorted(stored.parameters()) if stored.parameter_identity(n) is None]
    return names + [n for n in stored.secret_names() if stored.secret_identity(n) is None]


def _json_or_none(text: str | None) -> Any:
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


def _keys_note(label: str, data: dict[str, str]) -> str:
    return f"{label}: {', '.join(sorted(data))}" if data else "no keys"


def _secret_diff(old: dict[str, str] | None, new: dict[str, str]) -> str:
    if old is None:
        return "stored value is not a JSON object; replaced with " + _keys_note("keys", new)
    parts = []
    changed = sorted(k for k in new if k in old and old[k] != new[k])
    added = sorted(k for k in new if k not in old)
    removed = sorted(k for k in old if k not in new)
    for label, keys in (("keys changed", changed), ("added", added), ("removed", removed)):
        if keys:
            parts.append(f"{label}: {', '.join(keys)}")
    return "; ".join(parts)


def apply_change(change: Change, ssm, secrets, recovery_days: int | None = None) -> None:
    """Make one planned change in AWS ("=" does nothing)."""
    hide = list(_json_object(change.value).values()) if change.kind == "Secret" and change.value else []
    if change.action == "=":
        return
    if change.kind in KINDS:
        if change.action == "-":
            _call(f"deleting parameter {change.target}", ssm.delete_parameter, Name=change.target)
        else:
            _call(
                f"writing parameter {change.target}",
                ssm.put_parameter,
                Name=change.target,
                Value=change.value,
                Type="String",
                Overwrite=True,
            )
        return
    if change.action == "-":
        kwargs: dict[str, Any] = {"SecretId": change.target}
        if recovery_days:
            kwargs["RecoveryWindowInDays"] = recovery_days
        _call(f"deleting secret {change.target}", secrets.delete_secret, **kwargs)
    elif change.action == "+" and not change.restore:
        _call(
            f"creating secret {change.target}",
            secrets.create_secret,
            hide=hide,
            Name=change.target,
            SecretString=change.value,
        )
    else:
        if change.restore:
            _call(f"restoring secret {change.target}", secrets.restore_secret, SecretId=change.target)
        _call(
            f"writing secret {change.target}",
            secrets.put_secret_value,
            hide=hide,
            SecretId=change.target,
            SecretString=change.value,
        )


def summary_total(changes: list[Change]) -> str:
    count = {a: sum(1 for c in changes if c.action == a) for a in "+~=-"}
    return f"total: {count['+']} new, {count['~']} changed, {count['=']} unchanged, {count['-']} pruned"


def import_files(
    paths: list[str],
    *,
    prune: bool = False,
    dry_run: bool = False,
    force: bool = False,
    config_prefix_: str | None = None,
    secrets_prefix_: str | None = None,
    ssm=None,
    secrets=None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`fluxnotify import`: 0 done, 1 refused (invalid files), 2 AWS error."""
    from .store.files import load_files

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        objects = load_files(paths)
        check_unique(objects)
    except (ManifestError, ImportRefused) as problem:
        print(f"fluxnotify: refusing to import: {problem}", file=err)
        return 1
    try:
        stored = Stored(
            *clients(ssm, secrets), config_prefix(config_prefix_), secrets_prefix(secrets_prefix_)
        )
        try:
            objects = resolve_placeholders(objects, stored)
        except ImportRefused as problem:
            print(f"fluxnotify: refusing to import: {problem}", file=err)
            return 1
        found = import_conditions(objects, stored, prune)
        hidden = _secret_values(objects, stored.secret_data_read())
        not_ready = [c for c in _redacted(found, hidden) if not c.ready]
        for c in not_ready:
            where = f"{c.source}: " if c.source else ""
            message = " ".join(c.message.split())
            print(f"fluxnotify: {where}{c.kind} {c.key} is not Ready ({c.reason}): {message}", file=err)
        if not_ready and not force:
            print(
                f"fluxnotify: refusing to import: {len(not_ready)} object(s) not Ready; "
                "fix the files (fluxnotify validate -f …) or pass --force",
                file=err,
            )
            return 1
        changes = plan_import(objects, stored, prune)
        if prune:
            for name in left_alone(stored):
                print(f"fluxnotify: leaving {name} alone: not a fluxnotify object name", file=err)
        prefix = "(dry run) " if dry_run else ""
        for change in changes:
            if not dry_run:
                apply_change(change, stored.ssm, stored.secrets)
            print(prefix + change.line(), file=out, flush=True)
        print(prefix + summary_total(changes), file=out)
    except AwsError as problem:
        print(f"fluxnotify: AWS error: {problem}", file=err)
        return 2
    return 0


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


# --------------------------------------------------------------------------- validate --from-aws


def stored_conditions(
    *, config_prefix_: str | None = None, secrets_prefix_: str | None = None, ssm=None, secrets=None
) -> list[Condition]:
    """Ready conditions of what is stored in AWS, as the dispatcher would load it: stored
    Providers and Alerts, with their Secrets read from Secrets Manager. Raises AwsError."""
    stored = Stored(*clients(ssm, secrets), config_prefix(config_prefix_), secrets_prefix(secrets_prefix_))
    objects, broken = stored.objects()
    manifests: list[Manifest] = list(objects)
    read: list[dict[str, str] | None] = []
    for ns, ref in sorted(
        {(p.metadata.namespace, r) for p in objects if isinstance(p, Provider) for r in secret_refs(p)}
    ):
        data = stored.secret(ns, ref)
        read.append(data)
        if data is not None:
            manifests.append(Secret(ObjectMeta(ref, ns), data, _STORED))
    return _redacted(conditions(manifests), _secret_values([], read)) + broken
