"""`fluxnotify import`: validate manifests, then write what changed to SSM and Secrets Manager."""

from __future__ import annotations

import dataclasses
import json
import sys
import uuid
from dataclasses import dataclass
from typing import Any, TextIO

from fluxnotify.config.aws import parameter_name, secret_name
from fluxnotify.config.snapshot import read_version, version_parameter
from fluxnotify.model.manifests import (
    Alert,
    Manifest,
    ManifestError,
    ObjectMeta,
    Provider,
    Secret,
)
from fluxnotify.ops.stored import (
    KINDS,
    PLACEHOLDER_VALUE,
    STORED_SOURCE,
    AwsError,
    ImportRefused,
    Stored,
    aws_call,
    clients,
    config_prefix,
    json_object,
    redacted,
    secret_refs,
    secret_values,
    secrets_prefix,
)
from fluxnotify.ops.validate import Condition, alert_problem, conditions

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
        if isinstance(obj, Secret) and any(PLACEHOLDER_VALUE.match(v) for v in obj.data.values()):
            data = dict(obj.data)
            for key, value in obj.data.items():
                match = PLACEHOLDER_VALUE.match(value)
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
                    extras.append(Secret(ObjectMeta(ref, ns), data, STORED_SOURCE))
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
    hide = list(json_object(change.value).values()) if change.kind == "Secret" and change.value else []
    if change.action == "=":
        return
    if change.kind in KINDS:
        if change.action == "-":
            aws_call(f"deleting parameter {change.target}", ssm.delete_parameter, Name=change.target)
        else:
            aws_call(
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
        aws_call(f"deleting secret {change.target}", secrets.delete_secret, **kwargs)
    elif change.action == "+" and not change.restore:
        aws_call(
            f"creating secret {change.target}",
            secrets.create_secret,
            hide=hide,
            Name=change.target,
            SecretString=change.value,
        )
    else:
        if change.restore:
            aws_call(f"restoring secret {change.target}", secrets.restore_secret, SecretId=change.target)
        aws_call(
            f"writing secret {change.target}",
            secrets.put_secret_value,
            hide=hide,
            SecretId=change.target,
            SecretString=change.value,
        )


def bump_version(stored: Stored, changed: bool) -> None:
    """A new version marker after a change (or when there is none yet): dispatchers then
    re-read the configuration; while it stays the same, a refresh costs one call."""
    name = version_parameter(stored.config_prefix)
    if not changed and aws_call(f"reading parameter {name}", read_version, ssm=stored.ssm,
                                config_prefix=stored.config_prefix) is not None:
        return
    aws_call(f"writing parameter {name}", stored.ssm.put_parameter, Name=name, Value=uuid.uuid4().hex,
             Type="String", Overwrite=True)


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
    from fluxnotify.config.files import read_manifests

    out = out or sys.stdout
    err = err or sys.stderr
    loaded = read_manifests(paths, note=lambda text: print(f"fluxnotify: note: {text}", file=err))
    try:
        if loaded.errors:  # every error of every file, then one refusal
            for problem in loaded.errors[1:]:
                print(f"fluxnotify: {problem}", file=err)
            raise loaded.errors[0]
        objects = loaded.objects
        check_unique(objects)
    except (ManifestError, ImportRefused) as problem:
        more = f" (and {len(loaded.errors) - 1} more above)" if len(loaded.errors) > 1 else ""
        print(f"fluxnotify: refusing to import: {problem}{more}", file=err)
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
        hidden = secret_values(objects, stored.secret_data_read())
        not_ready = [c for c in redacted(found, hidden) if not c.ready]
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
        if not dry_run:
            bump_version(stored, changed=any(c.action != "=" for c in changes))
        print(prefix + summary_total(changes), file=out)
    except AwsError as problem:
        print(f"fluxnotify: AWS error: {problem}", file=err)
        return 2
    return 0
