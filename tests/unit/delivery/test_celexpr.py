"""spec.commitStatusExpr (spec §3.3): CEL evaluation, errors, and lazy import of celpy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.git.gitstatus_fixtures import SHA, UID, provider_yaml, raw_event, render_yaml

from fluxnotify.config.options import ConfigError
from fluxnotify.delivery import celexpr
from fluxnotify.model.event import Event, ObjectRef
from fluxnotify.model.manifests import load_yaml

EXAMPLE = (
    "event.involvedObject.kind + '/' + event.involvedObject.name + '/' + "
    "event.metadata.environment + '/' + provider.metadata.uid.split('-').first().value()"
)
PREFIX = (
    "failed to create commit status: failed to evaluate the spec.commitStatusExpr CEL "
    "expression for the event: "
)


def objects(uid: str = UID):
    provider, alert = load_yaml(provider_yaml("github", "https://github.com/o/r", token=None, uid=uid))
    return provider, alert


def combined_event(**metadata: str) -> Event:
    return Event(
        involved_object=ObjectRef(kind="Kustomization", namespace="flux-system", name="gitops-system"),
        severity="info", message="m", reason="ReconciliationSucceeded",
        metadata={"environment": "production", **metadata},
    )  # fmt: skip


def test_spec_example():
    provider, alert = objects()
    assert celexpr.commit_status(EXAMPLE, combined_event(), provider, alert) == (
        "Kustomization/gitops-system/production/0c9c2e41"
    )


def test_derived_uid_is_visible_when_the_manifest_has_none():
    provider, alert = objects(uid="''")
    assert provider.metadata.uid == ""
    result = celexpr.commit_status("provider.metadata.uid", combined_event(), provider, alert)
    assert result == provider.metadata.effective_uid and len(result) == 36


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("alert.metadata.name + '@' + alert.spec.providerRef.name", "git@git"),
        ("provider.spec.type + ':' + provider.metadata.namespace", "github:flux-system"),
        ("event.severity + '/' + event.reason", "info/ReconciliationSucceeded"),
        ("'a-b-c'.split('-').last().value()", "c"),
        ("[].first().orValue('none')", "none"),
        ("'A/B'.lowerAscii().replace('/', '-')", "a-b"),
        ("['x', 'y'].join('+')", "x+y"),
        ("'abcdef'.substring(1, 3)", "bc"),
        ("has(event.metadata.missing) ? 'yes' : 'no'", "no"),
    ],
)
def test_extension_functions_and_variables(expression, expected):
    provider, alert = objects()
    assert celexpr.commit_status(expression, combined_event(), provider, alert) == expected


@pytest.mark.parametrize(
    ("expression", "detail"),
    [
        ("event.metadata.missing", "no such member in mapping: 'missing'"),
        ("event.severity == 'info'", "the expression must evaluate to a string, got bool"),
        ("event.metadata", "the expression must evaluate to a string, got map"),
        ("[].first().value()", "optional.none() dereference"),
        ("event.involvedObject.kind +", "syntax error: "),
    ],
)
def test_errors(expression, detail):
    provider, alert = objects()
    with pytest.raises(ConfigError) as err:
        celexpr.commit_status(expression, combined_event(), provider, alert)
    assert str(err.value).startswith(PREFIX + detail)


def test_render_uses_the_expression_as_github_context():
    manifests = provider_yaml(
        "github", "https://github.com/o/r", extra_spec=f'\n  commitStatusExpr: "{EXAMPLE}"'
    )
    manifests = manifests.replace(
        "eventSources:", "eventMetadata: {environment: production}\n  eventSources:"
    )
    result = render_yaml(manifests, raw_event())
    assert result["error"] is None
    assert result["deliveries"][0]["body"] == {
        "state": "success",
        "description": "reconciliation succeeded",
        "context": "Kustomization/gitops-system/production/0c9c2e41",
    }
    assert result["deliveries"][0]["url"] == f"https://api.github.com/repos/o/r/statuses/{SHA}"


def test_render_reports_a_failing_expression_as_error():
    manifests = provider_yaml(
        "gitlab", "https://gitlab.com/o/r", extra_spec='\n  commitStatusExpr: "event.metadata.nope"'
    )
    result = render_yaml(manifests, raw_event())
    assert result["deliveries"] == []
    assert result["error"] == PREFIX + "no such member in mapping: 'nope'"


def test_celpy_is_not_imported_without_an_expression():
    """Importing the github module and rendering without commitStatusExpr must not load celpy."""
    root = Path(__file__).resolve().parents[3]
    script = f"""
import json, sys
sys.path.insert(0, {str(root / "layers" / "notify")!r})
sys.path.insert(0, {str(root / "tests")!r})
import fluxnotify.providers.git.github
from fixtures.git.gitstatus_fixtures import provider_yaml, raw_event, render_yaml
result = render_yaml(provider_yaml("github", "https://github.com/o/r"), raw_event())
assert result["error"] is None and result["deliveries"], result
print(json.dumps(["celpy" in sys.modules, "fluxnotify.delivery.celexpr" in sys.modules]))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [False, False]
