"""Config from AWS: SSM Parameter Store (Alerts, Providers) and Secrets Manager (Secrets).

Layout, under the prefixes from the environment:

* ``<CONFIG_PREFIX>/<namespace>/<Kind>/<name>`` — one String parameter per Provider or
  Alert holding its manifest as JSON (``fluxnotify import`` writes them);
* ``<SECRETS_PREFIX>/<namespace>/<name>`` — one secret per Kubernetes Secret, a JSON
  object of its keys (decoded values).

Reads go through Powertools parameters with a TTL cache (CONFIG_TTL seconds), so warm
invocations do not call AWS for every event. A malformed object is logged and left
out rather than failing every delivery.
"""

from __future__ import annotations

import json
import logging
import os

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from fluxnotify.model.manifests import Alert, ManifestError, Provider, parse_object

logger = logging.getLogger(__name__)


def parameter_name(prefix: str, namespace: str, kind: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{namespace}/{kind}/{name}"


def secret_name(prefix: str, namespace: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{namespace}/{name}"


class AwsStore:
    def __init__(
        self,
        config_prefix: str | None = None,
        secrets_prefix: str | None = None,
        ttl: int | None = None,
        ssm: SSMProvider | None = None,
        secrets: SecretsProvider | None = None,
    ):
        self.config_prefix = (config_prefix or os.environ.get("CONFIG_PREFIX", "/fluxnotify")).rstrip("/")
        self.secrets_prefix = secrets_prefix or os.environ.get("SECRETS_PREFIX", "fluxnotify")
        self.ttl = int(ttl if ttl is not None else os.environ.get("CONFIG_TTL", "60"))
        self._ssm = ssm or SSMProvider()
        self._secrets = secrets or SecretsProvider()
        self._raw: dict | None = None
        self._alerts: list[Alert] = []
        self._providers: dict[str, Provider] = {}

    def _load(self) -> None:
        raw = self._ssm.get_multiple(self.config_prefix, max_age=self.ttl, recursive=True)
        if raw is self._raw:
            return  # Powertools served its cache: the parsed objects are still current
        alerts, providers = [], {}
        for name in sorted(raw):
            try:
                obj = parse_object(json.loads(raw[name]), source=f"ssm:{self.config_prefix}/{name}")
            except (ValueError, ManifestError) as err:
                logger.error("ignoring malformed parameter", extra={"parameter": name, "error": str(err)})
                continue
            if isinstance(obj, Alert):
                alerts.append(obj)
            elif isinstance(obj, Provider):
                providers[obj.metadata.key] = obj
        self._raw, self._alerts, self._providers = raw, alerts, providers

    def alerts(self) -> list[Alert]:
        self._load()
        return self._alerts

    def provider(self, namespace: str, name: str) -> Provider | None:
        self._load()
        return self._providers.get(f"{namespace}/{name}")

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            value = self._secrets.get(secret_name(self.secrets_prefix, namespace, name), max_age=self.ttl)
        except GetParameterError as err:
            if "ResourceNotFound" in str(err) or "can't find" in str(err).lower():
                return None
            raise
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            logger.error("secret is not a JSON object", extra={"secret": f"{namespace}/{name}"})
            return None
        return {str(k): str(v) for k, v in data.items()}
