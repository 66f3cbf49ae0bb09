"""Provider and Alert specs (model/specs.py): camelCase in and out, the CRDs' defaults and bounds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fluxnotify.model.specs import AlertSpec, ProviderSpec


def test_alert_spec_reads_camel_case_and_fills_the_crd_defaults():
    spec = AlertSpec.model_validate({
        "providerRef": {"name": "slack"}, "unknownField": 1,
        "eventSources": [{"kind": "Kustomization", "name": "*", "matchLabels": {"app": "web"}}],
    })  # fmt: skip
    assert spec.provider_ref.name == "slack" and spec.event_severity == "info"
    assert spec.event_sources[0].match_labels == {"app": "web"} and spec.event_sources[0].namespace == ""
    assert spec.model_dump(by_alias=True, exclude_defaults=True) == {
        "providerRef": {"name": "slack"},
        "eventSources": [{"kind": "Kustomization", "name": "*", "matchLabels": {"app": "web"}}],
    }


@pytest.mark.parametrize("spec, location", [
    ({"providerRef": {"name": "p"}, "eventSources": []}, ("eventSources",)),
    ({"providerRef": {"name": ""}, "eventSources": [{"kind": "Bucket", "name": "b"}]}, ("providerRef", "name")),
    ({"providerRef": {"name": "p"}, "eventSources": [{"kind": "Bucket", "name": "b" * 254}]},
     ("eventSources", 0, "name")),
    ({"providerRef": {"name": "p"}, "eventSources": [{"kind": "Bucket", "name": "b"}], "summary": "s" * 256},
     ("summary",)),
])  # fmt: skip
def test_alert_spec_bounds_name_the_field(spec, location):
    with pytest.raises(ValidationError) as caught:
        AlertSpec.model_validate(spec)
    assert [error["loc"] for error in caught.value.errors()] == [location]


def test_provider_spec_needs_a_type_and_bounds_its_strings():
    spec = ProviderSpec.model_validate({"type": "slack", "secretRef": {"name": "s"}, "commitStatusExpr": "x"})
    assert (spec.secret_ref and spec.secret_ref.name, spec.commit_status_expr, spec.timeout) == ("s", "x", "")
    with pytest.raises(ValidationError, match="type"):
        ProviderSpec.model_validate({})
    with pytest.raises(ValidationError, match="address"):
        ProviderSpec.model_validate({"type": "generic", "address": "h" * 2049})
