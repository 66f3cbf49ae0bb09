"""One consistent view of the stored configuration, read from SSM in one refresh.

* ``<CONFIG_PREFIX>/<namespace>/<Kind>/<name>`` — one String parameter per Provider or
  Alert, its manifest as JSON (``fluxnotify import`` writes them);
* ``<CONFIG_PREFIX>/_meta/version`` — the version marker: ``fluxnotify import`` writes a
  new value after every change, so a dispatcher learns that nothing changed from one
  GetParameter call instead of paging through every object (GetParametersByPath returns
  at most 10 per call: 500 objects are 50 calls). Kubernetes namespaces cannot start with
  ``_``, so ``_meta`` never collides with an object.

Objects are read with ``parse_stored``: what ``fluxnotify import`` wrote (validated then)
is built without pydantic, off the cold start; anything else is validated as ever, and a
malformed object is logged and left out rather than failing every delivery.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fluxnotify.model.manifests import Alert, ManifestError, Provider, parse_stored

logger = logging.getLogger(__name__)

META = "_meta"


def version_parameter(config_prefix: str) -> str:
    return f"{config_prefix.rstrip('/')}/{META}/version"


@dataclass
class Snapshot:
    version: str | None  # the marker's value when it was read; None without a marker
    alerts: list[Alert] = field(default_factory=list)
    providers: dict[str, Provider] = field(default_factory=dict)
    loaded_at: float = field(default_factory=time.monotonic)


def read_version(ssm: Any, config_prefix: str) -> str | None:
    """The marker's value (one call), None when there is none."""
    try:
        return ssm.get_parameter(Name=version_parameter(config_prefix))["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None


def load_snapshot(ssm: Any, config_prefix: str, version: str | None) -> Snapshot:
    """Every Provider and Alert under the prefix (pages of 10), parsed once."""
    snapshot = Snapshot(version)
    meta = f"{config_prefix.rstrip('/')}/{META}/"
    for page in ssm.get_paginator("get_parameters_by_path").paginate(
        Path=config_prefix, Recursive=True, PaginationConfig={"PageSize": 10}
    ):
        for item in page.get("Parameters", []):
            if not item["Name"].startswith(meta):
                _add(snapshot, item["Name"], item.get("Value", ""))
    snapshot.alerts.sort(key=lambda alert: alert.source)
    return snapshot


def _add(snapshot: Snapshot, name: str, value: str) -> None:
    try:
        obj = parse_stored(json.loads(value), source=f"ssm:{name}")
    except (ValueError, ManifestError, RecursionError) as err:
        logger.error("ignoring malformed parameter", extra={"parameter": name, "error": str(err)[:500]})
        return
    if isinstance(obj, Alert):
        snapshot.alerts.append(obj)
    elif isinstance(obj, Provider):
        snapshot.providers[obj.metadata.key] = obj
