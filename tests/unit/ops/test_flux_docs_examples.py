"""Every Provider/Alert/Secret example of notification-controller's docs/spec v1beta1,
v1beta2 and v1beta3 (tests/fixtures/flux_docs/, YAML copied from the docs; Secrets that the
docs create with `kubectl create secret` are written out in the Provider's namespace) gets
from `validate` the verdict Flux would give it: Ready when the reference could build the
notifier from the objects of the example, not Ready (and why) when it could not.

Examples that the Kubernetes API server would refuse (an Alert without its required
`providerRef`) are refused by `validate` too, with an error naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fluxnotify.config.files import load_files
from fluxnotify.model.manifests import ManifestError
from fluxnotify.ops.validate import conditions

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "flux_docs"
SECRET_NOT_FOUND = "failed to get secret"

# example file → {object: (Ready, part of the reason when not Ready)}
EXPECTED: dict[str, dict[str, tuple[bool, str]]] = {}


def expect(names: str, verdicts: dict[str, tuple[bool, str]]) -> None:
    for name in names.split():
        EXPECTED[name] = verdicts


READY = (True, "")
NOT_READY_PROVIDER = (False, "is not ready")  # Flux: an Alert is Ready only when its Provider is
for version in ("v1beta2", "v1beta3"):
    expect(f"{version}-slack-bot", {"Provider flagger-system/slack-bot": READY, "Alert flagger-system/slack": READY})
    for name, key in [("slack", "default/slack"), ("slack-legacy", "default/slack"), ("msteams", "default/msteams"),
                      ("discord", "default/discord"), ("sentry", "default/sentry"), ("lark", "default/lark"),
                      ("googlechat", "default/google"), ("opsgenie", "default/opsgenie"), ("webex", "default/webex"),
                      ("azureeventhub-jwt", "default/azure"), ("grafana", "default/grafana")]:
        expect(f"{version}-{name}", {f"Provider {key}": READY})
    for name, key in [("telegram", "default/telegram"), ("matrix", "default/matrix"), ("rocket", "default/rocket"),
                      ("tls", "flagger-system/my-webhook")]:  # the docs give no Secret (tls: in another namespace)
        expect(f"{version}-{name}", {f"Provider {key}": (False, SECRET_NOT_FOUND)})
    expect(f"{version}-googlepubsub", {"Provider desired-namespace/googlepubsub-provider": (False, "credentials")})
    expect(f"{version}-azureeventhub-sas", {"Provider default/azure": (False, "SAS connection string")})
    expect(f"{version}-githubdispatch", {"Provider flux-system/github-dispatch": (False, SECRET_NOT_FOUND),
                                         "Alert flux-system/github-dispatch": NOT_READY_PROVIDER})
    expect(f"{version}-github-commit-status", {"Provider flux-system/github-status": READY,
                                               "Alert flux-system/github-status": READY})
# v1beta2's Alertmanager URL has userinfo Go accepts; v1beta3's `<username>:<password>` it refuses.
expect("v1beta2-alertmanager", {"Provider default/alertmanager": READY})
expect("v1beta3-alertmanager", {"Provider default/alertmanager": (False, "net/url: invalid userinfo")})
expect("v1beta3-alertmanager-bearer", {"Provider default/alertmanager": READY})
expect("v1beta3-datadog", {"Provider default/datadog": READY, "Alert default/datadog-info": READY})
expect("v1beta3-pagerduty", {"Provider default/pagerduty": READY, "Alert default/my-service-pagerduty": READY})
expect("v1beta3-nats", {"Provider desired-namespace/nats-provider": READY})

for name, key in [("slack", "default/slack"), ("generic-headers", "default/generic"), ("slack-app", "default/slack"),
                  ("sentry", "default/sentry"), ("telegram", "flux-system/telegram"), ("matrix", "default/matrix"),
                  ("opsgenie", "default/opsgenie"), ("alertmanager", "default/alertmanager"),
                  ("grafana", "default/grafana"), ("github-commit-status", "default/podinfo"),
                  ("azureeventhub-jwt", "default/azureeventhub")]:
    expect(f"v1beta1-{name}", {f"Provider {key}": READY})
expect("v1beta1-msteams", {"Provider flux-system/msteams": (False, "invalid URI for request")})
expect("v1beta1-lark", {"Provider default/lark": (False, "invalid Slack hook URL")})
expect("v1beta1-webex-template", {"Provider flux-system/webex": (False, SECRET_NOT_FOUND)})
expect("v1beta1-webex", {"Provider flux-system/webex-fluxcd-space": READY,
                         "Alert flux-system/webex-fluxcd-space-alerts": READY})
expect("v1beta1-azureeventhub-sas", {"Provider default/azureeventhub": (False, "does not contain an EntityPath")})
expect("v1beta1-githubdispatch", {"Provider flux-system/github-dispatch": (False, SECRET_NOT_FOUND),
                                  "Alert flux-system/github-dispatch": NOT_READY_PROVIDER})


# Alerts alone: their Provider is not in the example, which Flux reports as not Ready.
expect("v1beta1-alert-webapp", {"Alert default/webapp": (False, "Provider 'default/on-call-slack' not found")})
expect("v1beta1-alert-all-kustomizations", {"Alert default/all-kustomizations": (False, "not found")})
for version in ("v1beta2", "v1beta3"):
    expect(f"{version}-alerts-slack-bot", {"Provider flux-system/slack-bot": READY, "Alert flux-system/slack": READY})
# Alert snippets without spec.providerRef: the API server refuses them, and so does fluxnotify.
REFUSED = {f"v1beta3-alerts-{name}": "spec.providerRef: Field required"
           for name in ("event-metadata", "exclusion", "inclusion")}
REFUSED["v1beta2-alerts-exclusion"] = "spec.providerRef: Field required"


def cases():
    for path in sorted(FIXTURES.glob("v1beta*.yaml")):
        yield pytest.param(path, id=path.stem)


def test_every_example_has_an_expected_verdict():
    assert sorted([*EXPECTED, *REFUSED]) == sorted(p.stem for p in FIXTURES.glob("v1beta*.yaml"))


@pytest.mark.parametrize("path", list(cases()))
def test_flux_docs_example_gets_fluxs_verdict(path: Path):
    if path.stem in REFUSED:
        with pytest.raises(ManifestError) as refused:
            load_files([str(path)])
        assert str(refused.value).startswith(f"{path}: Alert default/<name>: ")
        assert REFUSED[path.stem] in str(refused.value)
        return
    found = {f"{c.kind} {c.key}": c for c in conditions(load_files([str(path)]))}
    expected = EXPECTED[path.stem]
    assert sorted(found) == sorted(expected)
    for name, (ready, reason) in expected.items():
        assert found[name].ready is ready, f"{name}: {found[name].message}"
        assert reason in found[name].message
