"""Config from Flux YAML files: Providers, Alerts and Kubernetes Secrets."""

from __future__ import annotations

from pathlib import Path

from fluxnotify.model.manifests import Alert, Manifest, ManifestError, Note, Provider, Secret, load_yaml

# Stands for "no objects, on purpose" (e.g. `import --prune -f /dev/null` empties the store).
NOTHING = "/dev/null"


def load_files(paths: list[str], note: Note | None = None, *, require_objects: bool = True) -> list[Manifest]:
    """All objects from the files (a directory: its *.yaml/*.yml files, sorted), in order.

    Nothing is dropped in silence: ManifestError names an unreadable file and, with
    ``require_objects`` (validate, render, import), an empty directory or a file without any
    object; ``note`` hears of each object of another kind. The local stack may start empty.
    """
    objects: list[Manifest] = []
    for path in _expand_directories(paths, require_objects):
        if path == NOTHING:
            continue
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise ManifestError(f"{path}: cannot read file: {err.strerror or err}") from None
        except UnicodeDecodeError:
            raise ManifestError(f"{path}: not UTF-8 text") from None
        if require_objects and not _has_documents(text):
            raise ManifestError(f"{path}: no Kubernetes objects in the file")
        objects.extend(load_yaml(text, path, note))
    return objects


def _has_documents(text: str) -> bool:
    import yaml

    try:
        return any(doc is not None for doc in yaml.safe_load_all(text))
    except yaml.YAMLError:
        return True  # load_yaml reports it, with the position


def _expand_directories(paths: list[str], require_objects: bool) -> list[str]:
    expanded = []
    for path in paths:
        if Path(path).is_dir():
            found = sorted(str(p) for p in Path(path).rglob("*") if p.suffix in (".yaml", ".yml"))
            if not found and require_objects:
                raise ManifestError(f"{path}: no *.yaml or *.yml files in the directory")
            expanded += found
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
        return cls(load_files(paths, require_objects=False))

    def alerts(self) -> list[Alert]:
        return self._alerts

    def providers(self) -> list[Provider]:
        return list(self._providers.values())

    def provider(self, namespace: str, name: str) -> Provider | None:
        return self._providers.get(f"{namespace}/{name}")

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return self._secrets.get(f"{namespace}/{name}")
