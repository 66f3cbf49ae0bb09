"""The changes `fluxnotify import` makes: planned against what is stored in SSM and Secrets
Manager (``plan_import``), each then made by ``apply_change``, and the version marker bumped."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from fluxnotify.config.aws import parameter_name, secret_name
from fluxnotify.config.snapshot import read_version, version_parameter
from fluxnotify.model.manifests import Manifest, Secret
from fluxnotify.ops.stored import KINDS, Stored, aws_call, json_object


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


def plan_import(objects: list[Manifest], stored: Stored, prune: bool = False) -> list[Change]:
    """What `import` does, in the order it does it: Secrets, Providers, Alerts (so a new
    Provider finds its Secret), then with prune the deletions (Alerts, Providers, Secrets)."""
    secrets = _secret_changes(objects, stored)
    parameters = _parameter_changes(objects, stored)
    if not prune:
        return secrets + parameters
    return secrets + parameters + _prunes(stored, {c.target for c in parameters}, {c.target for c in secrets})


def _secret_changes(objects: list[Manifest], stored: Stored) -> list[Change]:
    changes: list[Change] = []
    for obj in objects:
        if not isinstance(obj, Secret):
            continue
        name = secret_name(stored.secrets_prefix, obj.metadata.namespace, obj.metadata.name)
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
    return changes


def _parameter_changes(objects: list[Manifest], stored: Stored) -> list[Change]:
    changes: list[Change] = []
    parameters = stored.parameters()
    for kind in KINDS:
        for obj in objects:
            if obj.kind != kind or isinstance(obj, Secret):
                continue
            name = parameter_name(stored.config_prefix, obj.metadata.namespace, kind, obj.metadata.name)
            document = obj.as_dict()
            value = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
            current = parameters.get(name)
            if current is None:
                changes.append(Change("+", kind, obj.metadata.key, name, value))
            elif current.get("Type") == "String" and _json_or_none(current.get("Value")) == document:
                changes.append(Change("=", kind, obj.metadata.key, name))
            else:
                changes.append(Change("~", kind, obj.metadata.key, name, value))
    return changes


def _prunes(stored: Stored, parameters: set[str], secrets: set[str]) -> list[Change]:
    """Deletions of what is stored under fluxnotify's names but not in the files."""
    changes: list[Change] = []
    for kind in reversed(KINDS):
        for name in sorted(stored.parameters()):
            identity = stored.parameter_identity(name)
            if identity and identity[0] == kind and name not in parameters:
                changes.append(Change("-", kind, f"{identity[1]}/{identity[2]}", name))
    for name in stored.secret_names():
        secret = stored.secret_identity(name)
        if secret and name not in secrets:
            changes.append(Change("-", "Secret", "/".join(secret), name))
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
    hide = list((json_object(change.value) or {}).values()) if change.kind == "Secret" and change.value else []
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
