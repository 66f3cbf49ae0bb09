"""The spec of a Flux Provider and of an Alert, validated as the CRDs validate them (field
names in camelCase as written, unknown fields ignored here and warned of by model/fields.py).

These models validate (model/manifests.py imports them when it parses a manifest); the
objects keep their spec as model/specdata.py's plain dataclasses, which the dispatcher
builds from the stored form without importing pydantic."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class LocalRef(_Model):
    name: str = Field(min_length=1)


class EventSource(_Model):
    kind: str
    name: str = Field(min_length=1, max_length=253)
    namespace: str = ""
    match_labels: dict[str, str] | None = None
    api_version: str = ""


class AlertSpec(_Model):
    provider_ref: LocalRef
    event_severity: str = "info"
    event_sources: list[EventSource] = Field(min_length=1)
    inclusion_list: list[str] = []
    exclusion_list: list[str] = []
    event_metadata: dict[str, str] = {}
    summary: str = Field("", max_length=255)
    suspend: bool = False


class ProviderSpec(_Model):
    type: str = Field(min_length=1)
    channel: str = Field("", max_length=2048)
    username: str = Field("", max_length=2048)
    address: str = Field("", max_length=2048)
    timeout: str = ""
    proxy: str = Field("", max_length=2048)
    proxy_secret_ref: LocalRef | None = None
    secret_ref: LocalRef | None = None
    cert_secret_ref: LocalRef | None = None
    service_account_name: str = ""
    suspend: bool = False
    commit_status_expr: str = ""
