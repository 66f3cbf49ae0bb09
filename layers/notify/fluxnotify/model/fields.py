"""Reading the fields of a manifest: unknown ones, SOPS-encrypted values, a Secret's data.

Unknown fields of a Provider or Alert become warnings, as kubectl's field validation gives them.

pydantic ignores fields it does not know, so `spec.adress` would load as an empty address
and pass in silence. ``unknown_fields`` walks the document against the same models and
names each field it does not know, with the nearest known one ("did you mean …?").
A field of a newer apiVersion than the object's is named too: Flux would drop it.
"""

from __future__ import annotations

import base64
import binascii
import types
import typing
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pydantic is imported by whoever validates: not on the dispatcher's cold start
    from pydantic import BaseModel

TOP_LEVEL = ("apiVersion", "kind", "metadata", "spec", "status")
OBJECT_META = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
    "ownerReferences", "finalizers", "managedFields",
)  # fmt: skip
# Fields of Flux's API that fluxnotify reads nowhere: valid, so no warning.
FLUX_ONLY = {"Provider": ("interval",), "Alert": ()}
# spec fields that came after v1beta1 (the models hold the v1beta3 set).
ADDED_IN = {
    "Provider": {"proxySecretRef": "v1beta3", "serviceAccountName": "v1beta3", "commitStatusExpr": "v1beta3"},
    "Alert": {"inclusionList": "v1beta2", "eventMetadata": "v1beta2"},
}
_ORDER = ("v1beta1", "v1beta2", "v1beta3")


def unknown_fields(doc: dict[str, Any], kind: str, spec_model: type[BaseModel]) -> tuple[str, ...]:
    """One warning per unknown field of the document (top level, metadata, spec, nested)."""
    warnings = _unknown(doc, TOP_LEVEL, "")
    if isinstance(doc.get("metadata"), dict):
        warnings += _unknown(doc["metadata"], OBJECT_META, "metadata.")
    spec = doc.get("spec")
    if isinstance(spec, dict):
        version = str(doc.get("apiVersion") or "").rpartition("/")[2]
        warnings += _newer_fields(spec, kind, version)
        warnings += _walk(spec, spec_model, "spec.", FLUX_ONLY.get(kind, ()))
    return tuple(warnings)


def _unknown(mapping: dict[str, Any], known: tuple[str, ...] | list[str], prefix: str) -> list[str]:
    warnings = []
    for key in mapping:
        if key in known:
            continue
        text = f"unknown field {prefix}{key}"
        import difflib  # only for an unknown field: off the dispatcher's cold start

        close = difflib.get_close_matches(str(key), known, n=1)
        warnings.append(f"{text}: did you mean {prefix}{close[0]}?" if close else text)
    return warnings


def _walk(mapping: dict[str, Any], model: type[BaseModel], prefix: str, extra: tuple[str, ...] = ()) -> list[str]:
    fields = {info.alias or name: info for name, info in model.model_fields.items()}
    warnings = _unknown(mapping, [*fields, *extra], prefix)
    for key, info in fields.items():
        nested = _nested_model(info.annotation)
        value = mapping.get(key)
        if nested is None or value is None:
            continue
        if isinstance(value, dict):
            warnings += _walk(value, nested, f"{prefix}{key}.")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    warnings += _walk(item, nested, f"{prefix}{key}[{index}].")
    return warnings


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside `Model`, `Model | None` or `list[Model]`, else None."""
    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        return next(filter(None, (_nested_model(arg) for arg in typing.get_args(annotation))), None)
    return None


def newer_fields(spec: Any, kind: str, api_version: str) -> list[str]:
    """One warning per spec field of a newer apiVersion than the object's."""
    return _newer_fields(spec, kind, api_version.rpartition("/")[2]) if isinstance(spec, dict) else []


def _newer_fields(spec: dict[str, Any], kind: str, version: str) -> list[str]:
    if version not in _ORDER:
        return []
    return [
        f"spec.{key} is not a field of {version} {kind} (it came in {added}): Flux drops it"
        for key, added in ADDED_IN.get(kind, {}).items()
        if key in spec and _ORDER.index(added) > _ORDER.index(version)
    ]


def sops_encrypted(doc: dict[str, Any]) -> bool:
    """A `sops:` key, or a value SOPS encrypted (`ENC[AES256_GCM,…]`) where values live."""
    if "sops" in doc:
        return True
    sections = (doc.get("data"), doc.get("stringData"), doc.get("spec"))
    return any(
        isinstance(value, str) and value.startswith("ENC[")
        for section in sections if isinstance(section, dict)
        for value in section.values()
    )


def secret_data(doc: dict[str, Any], where: str) -> dict[str, str]:
    data: dict[str, str] = {}
    for key, value in (doc.get("data") or {}).items():
        try:
            raw = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}: data.{key} is not valid base64") from None
        data[str(key)] = raw.decode("utf-8", errors="replace")
    for key, value in (doc.get("stringData") or {}).items():
        if not isinstance(value, str):
            raise ValueError(f"{where}: stringData.{key} must be a string")
        data[str(key)] = value
    return data
