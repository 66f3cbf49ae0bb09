"""Config stores: where Alerts, Providers and their Secrets come from.

``files.FileStore`` reads Flux YAML (the local stack, render, validate);
``aws.AwsStore`` reads SSM Parameter Store and Secrets Manager (Lambda).
"""

from __future__ import annotations

from typing import Protocol

from fluxnotify.model.manifests import Alert, Provider


class ConfigStore(Protocol):
    def alerts(self) -> list[Alert]: ...

    def provider(self, namespace: str, name: str) -> Provider | None: ...

    def secret(self, namespace: str, name: str) -> dict[str, str] | None: ...
