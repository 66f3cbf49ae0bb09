"""`fluxnotify import`: validate manifests, then write what changed to SSM and Secrets Manager
(the changes themselves: ops/importchanges.py)."""

from __future__ import annotations

import dataclasses
import sys
from typing import TextIO

from fluxnotify.model.manifests import (
    Alert,
    Manifest,
    ManifestError,
    ObjectMeta,
    Provider,
    Secret,
)
from fluxnotify.ops.importchanges import apply_change, bump_version, left_alone, plan_import, summary_total
from fluxnotify.ops.stored import (
    PLACEHOLDER_VALUE,
    STORED_SOURCE,
    AwsError,
    ImportRefused,
    Stored,
    clients,
    config_prefix,
    redacted,
    secret_refs,
    secret_values,
    secrets_prefix,
)
from fluxnotify.ops.validate import Condition, alert_problem, conditions

# --------------------------------------------------------------------------- import


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
