"""Flux Provider and Alert objects and Kubernetes Secrets, as users write them in YAML.

Accepted apiVersions: notification.toolkit.fluxcd.io/v1beta1, v1beta2 and v1beta3
for Provider and Alert, v1 for Secret. Objects of other kinds in the same files
are skipped (Flux repositories mix kinds), with a note; near misses (`kind: Alerts`,
a mistyped apiVersion) are errors. Structural errors name the object and the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fluxnotify.model import specdata
from fluxnotify.model.fields import newer_fields, secret_data, sops_encrypted
from fluxnotify.model.specdata import AlertSpec, ProviderSpec

NOTIFICATION_GROUP = "notification.toolkit.fluxcd.io"
API_VERSIONS = tuple(f"{NOTIFICATION_GROUP}/{v}" for v in ("v1beta1", "v1beta2", "v1beta3"))
EVENT_SOURCE_KINDS = (
    "Bucket", "GitRepository", "Kustomization", "HelmRelease", "HelmChart", "HelmRepository",
    "ImageRepository", "ImagePolicy", "ImageUpdateAutomation", "OCIRepository",
    "ArtifactGenerator", "ExternalArtifact",
)  # fmt: skip
# Derived UIDs (objects without metadata.uid) are stable per namespace/name.
_UID_NAMESPACE = uuid.UUID("6f1d8e2a-54c1-4b8e-9a57-3f0c2f9d7b11")


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file, object and field
    (``kind`` and ``key``, namespace/name, are set when it belongs to one object)."""

    def __init__(self, message: str, *, kind: str = "", key: str = "", source: str = ""):
        super().__init__(message)
        self.kind, self.key, self.source = kind, key, source


@dataclass(frozen=True)
class ObjectMeta:
    name: str
    namespace: str = "default"
    uid: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)  # fluxnotify.io/* extensions

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def effective_uid(self) -> str:
        """metadata.uid, or one derived from namespace/name so renders are stable (derived
        once per object: deliveries ask for it every time)."""
        if self.uid:
            return self.uid
        derived = self.__dict__.get("_derived_uid")
        if derived is None:
            derived = str(uuid.uuid5(_UID_NAMESPACE, self.key))
            object.__setattr__(self, "_derived_uid", derived)  # frozen: a cache, not state
        return derived


@dataclass(frozen=True)
class Provider:
    api_version: str
    metadata: ObjectMeta
    spec: ProviderSpec
    source: str = ""
    warnings: tuple[str, ...] = ()  # unknown fields (model/fields.py): valid, but likely typos

    kind = "Provider"

    def as_dict(self) -> dict[str, Any]:
        return _object_dict(self)


@dataclass(frozen=True)
class Alert:
    api_version: str
    metadata: ObjectMeta
    spec: AlertSpec
    source: str = ""
    warnings: tuple[str, ...] = ()

    kind = "Alert"

    def as_dict(self) -> dict[str, Any]:
        return _object_dict(self)


@dataclass(frozen=True)
class Secret:
    metadata: ObjectMeta
    data: dict[str, str]
    source: str = ""

    kind = "Secret"


Manifest = Provider | Alert | Secret


Note = Callable[[str], None]
KNOWN_KINDS = ("Provider", "Alert", "Secret")
# Kinds of notification-controller that fluxnotify has no use for (skipped with a note).
OTHER_NOTIFICATION_KINDS = ("Receiver",)


def load_yaml(text: str, source: str = "<input>", note: Note | None = None) -> list[Manifest]:
    """Parse a multi-document YAML stream into Providers, Alerts and Secrets.

    Other Kubernetes kinds are skipped (``note`` hears of each); what looks like a Provider,
    Alert or Secret but is not one (``kind: Alerts``, a mistyped apiVersion), and a document
    that is not a Kubernetes object at all, are errors naming the file and the document:
    the first one is raised (``parse_documents`` gives them all).
    """
    objects, errors = parse_documents(text, source, note)
    if errors:
        raise errors[0]
    return objects


def parse_documents(
    text: str, source: str = "<input>", note: Note | None = None
) -> tuple[list[Manifest], list[ManifestError]]:
    """Every usable object of the stream and every error, each document on its own."""
    import yaml  # only the file store reads YAML: keep it off the Lambda cold start

    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        return [], [ManifestError(f"{source}: not valid YAML: {err}", source=source)]
    objects: list[Manifest] = []
    errors: list[ManifestError] = []
    for number, document in enumerate(documents, start=1):
        for doc in _expand(document):
            where = f"{source}: document {number}"
            try:
                _check_object(doc, where)
                parsed = parse_object(doc, source)
            except ManifestError as err:
                err.source = source
                errors.append(err)
                continue
            if parsed is not None:
                objects.append(parsed)
            elif note is not None:
                note(f"{where}: skipped {doc.get('apiVersion') or ''} {doc.get('kind')} "
                     f"{_name(doc)} (not a Provider, Alert or Secret)")
    return objects, errors


def _check_object(doc: Any, where: str) -> None:
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}: a manifest must be a mapping, got {type(doc).__name__}")
    if not isinstance(doc.get("kind"), str):
        hint = "; an event goes to --event" if "involvedObject" in doc else ""
        raise ManifestError(f"{where}: not a Kubernetes object (it has no kind){hint}")


def _name(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata")
    return str(meta.get("name", "")) if isinstance(meta, dict) else ""


def _expand(document: Any) -> Iterable[Any]:
    """Unwrap `kind: List` documents, as kubectl writes them."""
    if isinstance(document, dict) and document.get("kind") == "List":
        yield from document.get("items") or []
    elif document is not None:
        yield document


def _looks_like_ours(kind: str, api_version: str) -> bool:
    """A near miss of Provider/Alert/Secret: a notification kind, or the kind mistyped."""
    if api_version.split("/")[0] == NOTIFICATION_GROUP:
        return kind not in OTHER_NOTIFICATION_KINDS
    folded = kind.lower().rstrip("s")
    return any(folded == known.lower() for known in KNOWN_KINDS)


def parse_object(doc: Any, source: str = "<input>") -> Manifest | None:
    """One manifest from its decoded form; None for kinds fluxnotify does not use."""
    if not isinstance(doc, dict):
        raise ManifestError(f"{source}: a manifest must be a mapping, got {type(doc).__name__}")
    kind = doc.get("kind")
    api_version = str(doc.get("apiVersion") or "")
    if kind not in KNOWN_KINDS:
        if isinstance(kind, str) and _looks_like_ours(kind, api_version):
            raise ManifestError(
                f"{source}: {api_version} {kind} {_name(doc)}: unknown kind {kind!r} "
                f"(expected Provider or Alert of {NOTIFICATION_GROUP}, or a v1 Secret)"
            )
        return None
    metadata = _metadata(doc, source, kind)
    where = f"{source}: {kind} {metadata.key}"
    if sops_encrypted(doc):
        file = source if not source.startswith("<") else "FILE"
        raise ManifestError(f"{where}: this {kind} is SOPS-encrypted: decrypt it first "
                            f"(sops -d {file} | fluxnotify … -f -)", kind=kind, key=metadata.key)
    if kind == "Secret":
        if api_version not in ("v1", ""):
            raise ManifestError(f"{where}: apiVersion {api_version!r} is not supported (a Secret is v1)")
        try:
            return Secret(metadata, secret_data(doc, where), source)
        except ValueError as err:
            raise ManifestError(str(err), kind=kind, key=metadata.key) from None
    if api_version not in API_VERSIONS:
        raise ManifestError(
            f"{where}: apiVersion {api_version!r} is not supported "
            f"(expected one of {', '.join(API_VERSIONS)})", kind=kind, key=metadata.key
        )
    spec, warnings = _validated_spec(doc, kind, where, metadata.key)
    if isinstance(spec, ProviderSpec):
        return Provider(api_version, metadata, spec, source, warnings)
    return Alert(api_version, metadata, spec, source, warnings)


def _validated_spec(doc: dict[str, Any], kind: str, where: str, key: str) -> tuple[Any, tuple[str, ...]]:
    """The spec checked by the model (pydantic, imported here: off the dispatcher's cold start)."""
    from pydantic import ValidationError

    from fluxnotify.model import specs
    from fluxnotify.model.fields import unknown_fields

    model: type[specs.ProviderSpec | specs.AlertSpec] = specs.ProviderSpec if kind == "Provider" else specs.AlertSpec
    try:
        validated = model.model_validate(doc.get("spec") or {})
    except ValidationError as err:
        raise ManifestError(f"{where}: {_describe(err)}", kind=kind, key=key) from None
    return specdata.from_model(validated), unknown_fields(doc, kind, model)


def parse_stored(doc: Any, source: str = "<input>") -> Manifest | None:
    """``parse_object`` for what ``fluxnotify import`` stored (``as_dict``): a Provider or
    Alert in exactly that form is built without the model (specdata.from_stored); anything
    else — another kind, an unknown field, a value the model would coerce or refuse — goes
    through ``parse_object``, so the result, or the error, is always the one it gives."""
    if isinstance(doc, dict) and doc.get("kind") in ("Provider", "Alert") and doc.keys() <= _STORED_KEYS:
        api_version, meta = doc.get("apiVersion"), doc.get("metadata")
        if (api_version in API_VERSIONS and isinstance(meta, dict) and meta.keys() <= _STORED_META
                and not sops_encrypted(doc) and not newer_fields(doc.get("spec"), doc["kind"], api_version)):
            spec = specdata.from_stored(doc["kind"], doc.get("spec") or {})
            if spec is not None:
                metadata = _metadata(doc, source, doc["kind"])
                cls = Provider if isinstance(spec, ProviderSpec) else Alert
                return cls(api_version, metadata, spec, source)  # type: ignore[arg-type]
    return parse_object(doc, source)


_STORED_KEYS = {"apiVersion", "kind", "metadata", "spec"}
_STORED_META = {"name", "namespace", "uid", "labels", "annotations"}


def _metadata(doc: dict[str, Any], source: str, kind: str) -> ObjectMeta:
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise ManifestError(f"{source}: {kind} is missing metadata.name")
    namespace = meta.get("namespace") or "default"
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    if not isinstance(namespace, str) or not isinstance(labels, dict) or not isinstance(annotations, dict):
        raise ManifestError(f"{source}: {kind} {meta['name']}: metadata.namespace/labels/annotations malformed",
                            kind=kind, key=f"{namespace}/{meta['name']}" if isinstance(namespace, str) else "")
    annotations = {str(k): "" if v is None else str(v) for k, v in annotations.items()}
    return ObjectMeta(meta["name"], namespace, str(meta.get("uid") or ""), labels, annotations)


def _describe(err: Any) -> str:  # a pydantic ValidationError
    problems = []
    for item in err.errors():
        location = "spec." + ".".join(str(part) for part in item["loc"])
        problems.append(f"{location}: {item['msg']}")
    return "; ".join(problems)


def _object_dict(obj: Provider | Alert) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": obj.metadata.name, "namespace": obj.metadata.namespace}
    if obj.metadata.uid:
        meta["uid"] = obj.metadata.uid
    if obj.metadata.labels:
        meta["labels"] = obj.metadata.labels
    if obj.metadata.annotations:
        meta["annotations"] = obj.metadata.annotations
    return {
        "apiVersion": obj.api_version,
        "kind": obj.kind,
        "metadata": meta,
        "spec": specdata.dump(obj.spec),
    }
