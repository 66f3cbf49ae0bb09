"""Config from Flux YAML files: Providers, Alerts and Kubernetes Secrets."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from fluxnotify.model.manifests import Alert, Manifest, ManifestError, Note, Provider, Secret, parse_documents

# Stands for "no objects, on purpose" (e.g. `import --prune -f /dev/null` empties the store).
NOTHING = "/dev/null"
STDIN = "-"  # `-f -`: the manifests come on standard input (kustomize build … | fluxnotify …)
STDIN_SOURCE = "<stdin>"


@dataclass
class Loaded:
    """What a set of files holds: every usable object and every error (each names its file)."""

    objects: list[Manifest] = field(default_factory=list)
    errors: list[ManifestError] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # every file read, in order


def load_files(paths: list[str], note: Note | None = None, *, require_objects: bool = True,
               stdin: TextIO | None = None) -> list[Manifest]:
    """All objects from the files (a directory: its *.yaml/*.yml files, sorted; ``-``: standard
    input), in order; raises the first ManifestError (``read_manifests`` gives them all).

    Nothing is dropped in silence: ManifestError names an unreadable file and, with
    ``require_objects`` (validate, render, import), an empty directory or a file without any
    object; ``note`` hears of each object of another kind. The local stack may start empty.
    """
    loaded = read_manifests(paths, note, require_objects=require_objects, stdin=stdin)
    if loaded.errors:
        raise loaded.errors[0]
    return loaded.objects


def read_manifests(paths: list[str], note: Note | None = None, *, require_objects: bool = True,
                   stdin: TextIO | None = None) -> Loaded:
    """Every object and every error of every file: one broken file does not hide the next."""
    loaded = Loaded()
    stdin_read = False
    for path in _expand_directories(paths, require_objects, loaded.errors):
        if path == NOTHING:
            continue
        if path == STDIN and stdin_read:
            loaded.errors.append(ManifestError(f"{STDIN_SOURCE}: -f - is given more than once", source=STDIN_SOURCE))
            continue
        stdin_read = stdin_read or path == STDIN
        loaded.sources.append(STDIN_SOURCE if path == STDIN else path)
        try:
            text, source = _read(path, stdin)
        except ManifestError as err:
            loaded.errors.append(err)
            continue
        if require_objects and not _has_documents(text):
            loaded.errors.append(ManifestError(f"{source}: no Kubernetes objects in the file", source=source))
            continue
        objects, errors = parse_documents(text, source, note)
        loaded.objects += objects
        loaded.errors += errors
    return loaded


def _read(path: str, stdin: TextIO | None) -> tuple[str, str]:
    """The text of a file, or of standard input for ``-``, and the name to report it by."""
    if path == STDIN:
        stream = stdin or sys.stdin
        buffer = getattr(stream, "buffer", None)
        try:
            return (buffer.read().decode("utf-8") if buffer is not None else stream.read()), STDIN_SOURCE
        except UnicodeDecodeError:
            raise ManifestError(f"{STDIN_SOURCE}: not UTF-8 text", source=STDIN_SOURCE) from None
    try:
        return Path(path).read_text(encoding="utf-8"), path
    except OSError as err:
        raise ManifestError(f"{path}: cannot read file: {err.strerror or err}", source=path) from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text", source=path) from None


def _has_documents(text: str) -> bool:
    import yaml

    try:
        return any(doc is not None for doc in yaml.safe_load_all(text))
    except yaml.YAMLError:
        return True  # parse_documents reports it, with the position


def _expand_directories(paths: list[str], require_objects: bool, errors: list[ManifestError]) -> list[str]:
    expanded = []
    for path in paths:
        if path != STDIN and Path(path).is_dir():
            found = sorted(str(p) for p in Path(path).rglob("*") if p.suffix in (".yaml", ".yml"))
            if not found and require_objects:
                errors.append(ManifestError(f"{path}: no *.yaml or *.yml files in the directory", source=path))
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
