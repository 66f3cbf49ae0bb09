"""Provider / Alert / Secret manifests as users write them (DESIGN.md; spec §2.1, §3.1)."""

from __future__ import annotations

import base64
import textwrap

import pytest

from fluxnotify.model.manifests import Alert, ManifestError, Provider, Secret, load_yaml, parse_object

GROUP = "notification.toolkit.fluxcd.io"


def y(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def load_error(text: str, source: str = "flux.yaml") -> str:
    with pytest.raises(ManifestError) as caught:
        load_yaml(text, source)
    return str(caught.value)


PROVIDER = y("""
    apiVersion: notification.toolkit.fluxcd.io/{version}
    kind: Provider
    metadata:
      name: slack
      namespace: flux-system
      uid: 0c9c2e41-d2f9-4f9b-9c41-bebc1984d67a
      labels: {team: a}
    spec:
      type: slack
      channel: general
      username: flux
      address: https://hooks.slack.com/services/T/B/X
      timeout: 30s
      proxy: http://proxy:3128
      secretRef: {name: slack-token}
      certSecretRef: {name: slack-ca}
      proxySecretRef: {name: slack-proxy}
      suspend: true
      commitStatusExpr: "'x'"
""")


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2", "v1beta3"])
def test_provider_in_every_accepted_api_version(version):
    [provider] = load_yaml(PROVIDER.replace("{version}", version), "p.yaml")
    assert isinstance(provider, Provider)
    assert provider.api_version == f"{GROUP}/{version}"
    assert provider.source == "p.yaml"
    assert provider.metadata.key == "flux-system/slack"
    assert provider.metadata.uid == "0c9c2e41-d2f9-4f9b-9c41-bebc1984d67a"
    assert provider.metadata.effective_uid == "0c9c2e41-d2f9-4f9b-9c41-bebc1984d67a"
    assert provider.metadata.labels == {"team": "a"}
    spec = provider.spec
    assert (spec.type, spec.channel, spec.username) == ("slack", "general", "flux")
    assert spec.address == "https://hooks.slack.com/services/T/B/X"
    assert (spec.timeout, spec.proxy, spec.suspend) == ("30s", "http://proxy:3128", True)
    assert spec.secret_ref.name == "slack-token"
    assert spec.cert_secret_ref.name == "slack-ca"
    assert spec.proxy_secret_ref.name == "slack-proxy"
    assert spec.commit_status_expr == "'x'"


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2", "v1beta3"])
def test_alert_in_every_accepted_api_version(version):
    [alert] = load_yaml(y(f"""
        apiVersion: notification.toolkit.fluxcd.io/{version}
        kind: Alert
        metadata: {{name: on-call, namespace: flux-system}}
        spec:
          providerRef: {{name: slack}}
          eventSeverity: error
          eventSources:
            - kind: Kustomization
              name: "*"
            - kind: GitRepository
              name: webapp
              namespace: apps
              matchLabels: {{app: web}}
              apiVersion: source.toolkit.fluxcd.io/v1
          inclusionList: [".*failed.*"]
          exclusionList: ["ignored"]
          eventMetadata: {{env: prod}}
          summary: Cluster prod
          suspend: false
    """))
    assert isinstance(alert, Alert)
    spec = alert.spec
    assert spec.provider_ref.name == "slack"
    assert spec.event_severity == "error"
    assert [(s.kind, s.name, s.namespace) for s in spec.event_sources] == [
        ("Kustomization", "*", ""), ("GitRepository", "webapp", "apps")]
    assert spec.event_sources[0].match_labels is None
    assert spec.event_sources[1].match_labels == {"app": "web"}
    assert spec.inclusion_list == [".*failed.*"]
    assert spec.exclusion_list == ["ignored"]
    assert spec.event_metadata == {"env": "prod"}
    assert spec.summary == "Cluster prod"


def test_alert_defaults():
    [alert] = load_yaml(y("""
        apiVersion: notification.toolkit.fluxcd.io/v1beta3
        kind: Alert
        metadata: {name: a}
        spec:
          providerRef: {name: p}
          eventSources: [{kind: Kustomization, name: x}]
    """))
    assert alert.metadata.namespace == "default"
    spec = alert.spec
    assert spec.event_severity == "info"
    assert (spec.inclusion_list, spec.exclusion_list, spec.event_metadata) == ([], [], {})
    assert (spec.summary, spec.suspend) == ("", False)


def test_explicitly_empty_match_labels_is_kept_distinct_from_absent():
    [alert] = load_yaml(y("""
        apiVersion: notification.toolkit.fluxcd.io/v1beta2
        kind: Alert
        metadata: {name: a, namespace: n}
        spec:
          providerRef: {name: p}
          eventSources: [{kind: Kustomization, name: x, matchLabels: {}}]
    """))
    assert alert.spec.event_sources[0].match_labels == {}


@pytest.mark.parametrize("api_version", [f"{GROUP}/v1", f"{GROUP}/v1beta4", "v1", "", "notification/v1beta3"])
def test_unsupported_api_version_names_object_and_expected_versions(api_version):
    text = PROVIDER.replace("{version}", "v1beta3").replace(f"{GROUP}/v1beta3", api_version)
    message = load_error(text)
    assert message.startswith("flux.yaml: Provider flux-system/slack: apiVersion ")
    assert f"{GROUP}/v1beta1, {GROUP}/v1beta2, {GROUP}/v1beta3" in message


def test_missing_provider_type_names_the_field():
    message = load_error(y("""
        apiVersion: notification.toolkit.fluxcd.io/v1beta3
        kind: Provider
        metadata: {name: p, namespace: ns}
        spec: {address: "http://x"}
    """))
    assert message.startswith("flux.yaml: Provider ns/p: spec.type")


def test_alert_errors_name_each_bad_field():
    message = load_error(y("""
        apiVersion: notification.toolkit.fluxcd.io/v1beta3
        kind: Alert
        metadata: {name: a, namespace: ns}
        spec: {eventSources: []}
    """))
    assert message.startswith("flux.yaml: Alert ns/a: ")
    assert "spec.providerRef" in message
    assert "spec.eventSources" in message


def test_event_source_without_name_names_the_list_index():
    message = load_error(y("""
        apiVersion: notification.toolkit.fluxcd.io/v1beta3
        kind: Alert
        metadata: {name: a, namespace: ns}
        spec:
          providerRef: {name: p}
          eventSources: [{kind: Kustomization, name: ok}, {kind: Kustomization}]
    """))
    assert "Alert ns/a: spec.eventSources.1.name" in message


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ("{type: slack, address: %s}" % ("a" * 2049), "spec.address"),
        ("{type: slack, channel: %s}" % ("c" * 2049), "spec.channel"),
        ("{type: slack, timeout: 5}", "spec.timeout"),
        ("{type: slack, secretRef: {}}", "spec.secretRef.name"),
        ("{type: slack, suspend: maybe}", "spec.suspend"),
    ],
)
def test_provider_field_errors(spec, field):
    text = f"apiVersion: {GROUP}/v1beta3\nkind: Provider\nmetadata: {{name: p, namespace: ns}}\nspec: {spec}\n"
    message = load_error(text)
    assert message.startswith(f"flux.yaml: Provider ns/p: {field}")


def test_address_of_exactly_2048_characters_is_accepted():
    text = f"apiVersion: {GROUP}/v1beta3\nkind: Provider\nmetadata: {{name: p}}\nspec: {{type: slack, address: {'a' * 2048}}}\n"
    assert len(load_yaml(text)[0].spec.address) == 2048


def test_summary_limit_255():
    base = (f"apiVersion: {GROUP}/v1beta3\nkind: Alert\nmetadata: {{name: a, namespace: ns}}\n"
            "spec: {providerRef: {name: p}, eventSources: [{kind: Kustomization, name: x}], summary: SUMMARY}\n")
    assert load_yaml(base.replace("SUMMARY", "s" * 255))[0].spec.summary == "s" * 255
    assert "Alert ns/a: spec.summary" in load_error(base.replace("SUMMARY", "s" * 256))


def test_missing_name_names_the_kind_and_source():
    assert load_error("kind: Provider\nmetadata: {namespace: ns}\n", "x.yaml") == "x.yaml: Provider is missing metadata.name"
    assert load_error("kind: Alert\n", "x.yaml") == "x.yaml: Alert is missing metadata.name"


def test_non_mapping_document_and_invalid_yaml():
    assert load_error("- a\n", "x.yaml") == "x.yaml: document 1: a manifest must be a mapping, got list"
    assert load_error("a: [\n", "x.yaml").startswith("x.yaml: not valid YAML: ")


def test_other_kinds_and_empty_documents_are_ignored():
    text = y(f"""
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {{name: apps}}
        spec: {{whatever: 1}}
        ---
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: c}}
        ---
        apiVersion: {GROUP}/v1beta3
        kind: Provider
        metadata: {{name: p, namespace: ns}}
        spec: {{type: generic}}
    """)
    objects = load_yaml(text)
    assert [(o.kind, o.metadata.key) for o in objects] == [("Provider", "ns/p")]


def test_kind_list_is_expanded_in_order():
    text = y(f"""
        apiVersion: v1
        kind: List
        items:
          - apiVersion: {GROUP}/v1beta3
            kind: Provider
            metadata: {{name: p1, namespace: ns}}
            spec: {{type: generic}}
          - apiVersion: v1
            kind: Secret
            metadata: {{name: s, namespace: ns}}
            stringData: {{token: t}}
          - apiVersion: {GROUP}/v1beta3
            kind: Provider
            metadata: {{name: p2, namespace: ns}}
            spec: {{type: slack}}
    """)
    assert [(o.kind, o.metadata.name) for o in load_yaml(text)] == [
        ("Provider", "p1"), ("Secret", "s"), ("Provider", "p2")]


def test_file_order_is_kept_across_documents():
    docs = []
    for name in ("c", "a", "b"):
        docs.append(f"apiVersion: {GROUP}/v1beta3\nkind: Provider\nmetadata: {{name: {name}}}\nspec: {{type: generic}}\n")
    assert [o.metadata.name for o in load_yaml("---\n".join(docs))] == ["c", "a", "b"]


# --- Secrets ------------------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_secret_data_base64_and_string_data():
    token = b64(" tok\n")
    text = y(f"""
        apiVersion: v1
        kind: Secret
        metadata: {{name: creds, namespace: flux-system}}
        type: Opaque
        data:
          token: {token}
          address: {b64("https://example.com/hook")}
          both: {b64("from data")}
        stringData:
          username: bot
          both: from stringData
    """)
    [secret] = load_yaml(text)
    assert isinstance(secret, Secret)
    assert secret.metadata.key == "flux-system/creds"
    assert secret.data == {
        "token": " tok\n",  # decoded exactly, not trimmed
        "address": "https://example.com/hook",
        "both": "from stringData",  # stringData wins, as the API server merges it
        "username": "bot",
    }


def test_secret_without_data_or_api_version_is_empty():
    [secret] = load_yaml("kind: Secret\nmetadata: {name: s}\n")
    assert secret.data == {}
    assert secret.metadata.namespace == "default"


def test_secret_invalid_base64_names_secret_and_key():
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\ndata: {token: '!!notb64'}\n"
    assert load_error(text, "s.yaml") == "s.yaml: Secret ns/s: data.token is not valid base64"


def test_secret_string_data_must_be_strings():
    text = "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: ns}\nstringData: {port: 5}\n"
    assert load_error(text, "s.yaml") == "s.yaml: Secret ns/s: stringData.port must be a string"


def test_derived_uid_is_stable_and_differs_per_object():
    def uid(name, ns="ns"):
        return parse_object({"apiVersion": f"{GROUP}/v1beta3", "kind": "Provider",
                             "metadata": {"name": name, "namespace": ns}, "spec": {"type": "generic"}}).metadata.effective_uid
    assert uid("p") == uid("p")
    assert uid("p") != uid("q")
    assert uid("p", "a") != uid("p", "b")
    assert len(uid("p").split("-")) == 5


def test_as_dict_round_trips_the_spec():
    [provider] = load_yaml(PROVIDER.replace("{version}", "v1beta2"))
    data = provider.as_dict()
    assert data["apiVersion"] == f"{GROUP}/v1beta2"
    assert data["kind"] == "Provider"
    assert data["metadata"]["uid"] == "0c9c2e41-d2f9-4f9b-9c41-bebc1984d67a"
    assert data["spec"]["secretRef"] == {"name": "slack-token"}
    assert data["spec"]["type"] == "slack"
