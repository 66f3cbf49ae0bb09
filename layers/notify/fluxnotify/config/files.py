"""Config from Flux YAML files: Providers, Alerts and Kubernetes Secrets."""

from __future__ import annotations

from pathlib import Path

from fluxnotify.model.manifests import Alert, Manifest, ManifestError, Provider, Secret, load_yaml


def load_files(paths: list[str]) -> list[Manifest]:
    """All objects from the files (a directory: its *.yaml/*.yml files, sorted), in order.

    ManifestError names the unreadable file.
    """
    objects: list[Manifest] = []
    for path in _expand_directories(paths):
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ManifestError(f"{path}: cannot read file: {err.strerror or err}") from None
        except UnicodeDecodeError:
            raise ManifestError(f"{path}: not UTF-8 text") from None
        objects.extend(load_yaml(text, path))
    return objects


def _expand_directories(paths: list[str]) -> list[str]:
    expanded = []
    for path in paths:
        if Path(path).is_dir():
            expanded += sorted(str(p) for p in Path(path).rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            expanded.append(path)
    return expanded


class FileStore:
    def __init__(self, objects: list[Manifest]):
        self.objects = objects
        self._alerts = [o for o in objects if isinstance(o, Alert)]
        self._providers = {o.metadata.key: o for o in objects if isinstance(o, Provider)}
        self._secrets = {o.metadata.key: o.data for o in objects if isinstance(o, Secret)}

    @classmethod
    def from_paths(cls, paths: list[str]) -> FileStore:
        return cls(load_files(paths))

    def alerts(self) -> list[Alert]:
        return self._alerts

    def providers(self) -> list[Provider]:
        return list(self._providers.values())

    def provider(self, namespace: str, name: str) -> Provider | None:
        return self._providers.get(f"{namespace}/{name}")

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return self._secrets.get(f"{namespace}/{name}")
