"""Alert matching (spec §2.2), per-alert drop rules (§2.3), metadata step C (§2.4), §3.3 default id."""

from __future__ import annotations

import pytest

from fluxnotify.delivery.routing import (
    alert_matches,
    combine_metadata,
    commit_status_id,
    default_commit_status,
    drop_reason,
    match_alerts,
)
from fluxnotify.model.event import Event, ObjectRef
from fluxnotify.model.manifests import parse_object

KS = "kustomize.toolkit.fluxcd.io"
EV = "event.toolkit.fluxcd.io"
NS = "flux-system"


def event(kind="Kustomization", name="apps", namespace=NS, severity="info", message="Reconciliation finished",
          metadata=None, api_version=f"{KS}/v1") -> Event:
    return Event(
        involved_object=ObjectRef(kind=kind, namespace=namespace, name=name, api_version=api_version),
        severity=severity,
        message=message,
        reason="ReconciliationSucceeded",
        metadata=dict(metadata or {}),
        reporting_controller="kustomize-controller",
    )


def alert(name="a", namespace=NS, sources=None, **spec):
    return parse_object({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "kind": "Alert",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "providerRef": {"name": "p"},
            "eventSources": sources if sources is not None else [{"kind": "Kustomization", "name": "*"}],
            **spec,
        },
    })


def provider(type_name="slack", suspend=False, uid="0c9c2e41-d2f9-4f9b-9c41-bebc1984d67a", **spec):
    return parse_object({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "kind": "Provider",
        "metadata": {"name": "p", "namespace": NS, "uid": uid},
        "spec": {"type": type_name, "suspend": suspend, **spec},
    })


# --- §2.2 matching ---------------------------------------------------------------------------------


def test_source_namespace_defaults_to_the_alerts_namespace():
    a = alert(sources=[{"kind": "Kustomization", "name": "apps"}])
    assert alert_matches(event(), a)
    assert not alert_matches(event(namespace="other"), a)


def test_explicit_source_namespace_allows_other_namespaces():
    a = alert(sources=[{"kind": "Kustomization", "name": "apps", "namespace": "apps-ns"}])
    assert alert_matches(event(namespace="apps-ns"), a)
    assert not alert_matches(event(namespace=NS), a)


@pytest.mark.parametrize("kind", ["kustomization", "KUSTOMIZATION", "HelmRelease", ""])
def test_kind_must_match_exactly(kind):
    assert not alert_matches(event(kind=kind), alert(sources=[{"kind": "Kustomization", "name": "*"}]))


def test_name_exact_or_star():
    exact = alert(sources=[{"kind": "Kustomization", "name": "apps"}])
    assert alert_matches(event(name="apps"), exact)
    assert not alert_matches(event(name="Apps"), exact)
    assert not alert_matches(event(name="apps2"), exact)
    star = alert(sources=[{"kind": "Kustomization", "name": "*"}])
    assert alert_matches(event(name="anything"), star)
    assert alert_matches(event(name=""), star)


def test_name_star_is_not_a_glob():
    a = alert(sources=[{"kind": "Kustomization", "name": "app*"}])
    assert not alert_matches(event(name="apps"), a)
    assert alert_matches(event(name="app*"), a)


@pytest.mark.parametrize("severity", ["trace", "info", "error", "bogus", ""])
def test_info_alert_passes_every_severity(severity):
    assert alert_matches(event(severity=severity), alert(eventSeverity="info"))
    assert alert_matches(event(severity=severity), alert())  # default eventSeverity is info


@pytest.mark.parametrize(("severity", "matches"), [("error", True), ("info", False), ("trace", False),
                                                  ("Error", False), ("", False)])
def test_error_alert_passes_only_error(severity, matches):
    assert alert_matches(event(severity=severity), alert(eventSeverity="error")) is matches


def test_empty_event_severity_on_alert_is_treated_as_info():
    a = alert(eventSeverity="")
    assert alert_matches(event(severity="trace"), a)


def test_inclusion_list_keeps_only_matching_messages_with_search_semantics():
    a = alert(inclusionList=["fail", "^Health check"])
    assert alert_matches(event(message="apply failed: x"), a)  # unanchored
    assert alert_matches(event(message="Health check passed"), a)
    assert not alert_matches(event(message="Reconciliation finished"), a)
    assert not alert_matches(event(message="A Health check"), a)


def test_invalid_inclusion_pattern_counts_as_no_match():
    assert not alert_matches(event(message="anything ("), alert(inclusionList=["("]))
    assert alert_matches(event(message="anything"), alert(inclusionList=["(", "any"]))
    assert not alert_matches(event(message="anything"), alert(inclusionList=["[", "*x"]))


def test_exclusion_list_drops_matching_messages():
    a = alert(exclusionList=["up to date", "^skip"])
    assert not alert_matches(event(message="artifact up to date with remote"), a)
    assert not alert_matches(event(message="skip me"), a)
    assert alert_matches(event(message="do not skip me"), a)


def test_invalid_exclusion_patterns_are_ignored():
    assert alert_matches(event(message="("), alert(exclusionList=["(", "[a-"]))
    assert not alert_matches(event(message="abc"), alert(exclusionList=["(", "b"]))


def test_exclusion_wins_over_inclusion():
    a = alert(inclusionList=["failed"], exclusionList=["timeout"])
    assert alert_matches(event(message="apply failed"), a)
    assert not alert_matches(event(message="apply failed: timeout"), a)


def test_pattern_that_re2_cannot_compile_is_ignored_in_exclusion_list():
    assert alert_matches(event(message="Reconciliation finished"), alert(exclusionList=["(?=Rec)"]))


def test_suspended_alert_matches_nothing():
    assert not alert_matches(event(), alert(suspend=True))
    assert match_alerts(event(), [alert(suspend=True)]) == []


@pytest.mark.parametrize("labels", [{}, {"app": "web"}])
def test_match_labels_never_matches(labels):
    a = alert(sources=[{"kind": "Kustomization", "name": "*", "matchLabels": labels}])
    assert not alert_matches(event(), a)
    a2 = alert(sources=[{"kind": "Kustomization", "name": "apps", "matchLabels": labels}])
    assert not alert_matches(event(), a2)


def test_match_labels_source_does_not_block_another_source():
    a = alert(sources=[{"kind": "Kustomization", "name": "*", "matchLabels": {"app": "web"}},
                       {"kind": "Kustomization", "name": "apps"}])
    assert alert_matches(event(), a)


def test_any_source_matches():
    a = alert(sources=[{"kind": "GitRepository", "name": "*"}, {"kind": "Kustomization", "name": "apps"}])
    assert alert_matches(event(), a)
    assert alert_matches(event(kind="GitRepository", name="x"), a)
    assert not alert_matches(event(kind="HelmRelease"), a)


def test_each_alert_selected_once_in_listing_order():
    many_sources = alert("many", sources=[{"kind": "Kustomization", "name": "*"},
                                          {"kind": "Kustomization", "name": "apps"},
                                          {"kind": "Kustomization", "name": "apps", "namespace": NS}])
    other_ns = alert("other", namespace="elsewhere")
    errors_only = alert("errors", eventSeverity="error")
    second = alert("second")
    selected = match_alerts(event(), [second, many_sources, other_ns, errors_only])
    assert [a.metadata.name for a in selected] == ["second", "many"]


# --- §2.3 drop rules ------------------------------------------------------------------------------------

UPDATE = {f"{KS}/commit_status": "update"}
CHAT_TYPES = ["slack", "discord", "msteams", "rocket", "googlechat", "webex", "telegram", "matrix", "sentry",
              "opsgenie", "alertmanager", "lark", "azureeventhub"]
COMMIT_TYPES = ["github", "gitlab", "gitea", "bitbucketserver", "bitbucket", "azuredevops"]


@pytest.mark.parametrize("type_name", CHAT_TYPES)
def test_commit_status_update_is_skipped_for_chat_types(type_name):
    reason = drop_reason(event(metadata=UPDATE), provider(type_name))
    assert reason is not None
    assert drop_reason(event(), provider(type_name)) is None


@pytest.mark.parametrize("type_name", ["generic", "generic-hmac"])
def test_commit_status_update_reaches_generic_types(type_name):
    assert drop_reason(event(metadata=UPDATE), provider(type_name)) is None


@pytest.mark.parametrize("type_name", COMMIT_TYPES)
def test_commit_status_update_reaches_commit_status_types(type_name):
    assert drop_reason(event(metadata=UPDATE), provider(type_name)) is None


def test_commit_status_update_is_read_from_the_object_group_key_only():
    assert drop_reason(event(metadata={f"{EV}/commit_status": "update"}), provider("slack")) is None
    assert drop_reason(event(metadata={"commit_status": "update"}), provider("slack")) is None
    assert drop_reason(event(metadata={f"{KS}/commit_status": "Update"}), provider("slack")) is None
    assert drop_reason(event(metadata={f"{KS}/commit_status": "other"}), provider("slack")) is None


MISSING_COMMIT = "event dropped for commit status providers due to missing commit metadata key"


@pytest.mark.parametrize("type_name", COMMIT_TYPES)
@pytest.mark.parametrize("severity", ["info", "trace", "bogus"])
def test_commit_status_types_drop_non_error_events_without_commit_key(type_name, severity):
    assert drop_reason(event(severity=severity), provider(type_name)) == MISSING_COMMIT
    assert drop_reason(event(severity=severity, metadata={f"{EV}/commit": ""}), provider(type_name)) == MISSING_COMMIT
    # the object-group commit key does not count
    assert drop_reason(event(severity=severity, metadata={f"{KS}/commit": "abc"}), provider(type_name)) == MISSING_COMMIT


@pytest.mark.parametrize("type_name", COMMIT_TYPES)
def test_commit_status_types_get_events_with_commit_key_updates_and_errors(type_name):
    assert drop_reason(event(metadata={f"{EV}/commit": "a1afe267"}), provider(type_name)) is None
    assert drop_reason(event(metadata=UPDATE), provider(type_name)) is None
    assert drop_reason(event(severity="error"), provider(type_name)) is None


@pytest.mark.parametrize("type_name", ["generic", "slack", "githubdispatch"])
def test_non_commit_types_do_not_need_the_commit_key(type_name):
    assert drop_reason(event(severity="info"), provider(type_name)) is None


@pytest.mark.parametrize("type_name", ["slack", "generic", "github"])
def test_suspended_provider_is_skipped(type_name):
    assert drop_reason(event(severity="error"), provider(type_name, suspend=True)) == "provider is suspended"


@pytest.mark.parametrize("type_name", ["githubpullrequestcomment", "gitlabmergerequestcomment", "giteapullrequestcomment"])
def test_change_request_types_need_the_change_request_key(type_name):
    assert drop_reason(event(), provider(type_name)) is not None
    assert drop_reason(event(metadata={f"{EV}/change_request": ""}), provider(type_name)) is not None
    assert drop_reason(event(metadata={f"{EV}/change_request": "42"}), provider(type_name)) is None


# --- §2.4 step C ---------------------------------------------------------------------------------------


def test_combine_precedence_and_conflicts():
    raw = event(metadata={
        f"{EV}/env": "from-event-group",
        f"{EV}/summary": "from-event-group",
        f"{EV}/only-event": "e",
        f"{KS}/revision": "main@sha1:abc",
        f"{KS}/summary": "from-object-group",
        f"{KS}/env": "from-object-group",
    })
    a = alert(eventMetadata={"env": "from-alert", "team": "platform", "summary": "from-alert-metadata"},
              summary="from-alert-summary")
    combined, conflicts = combine_metadata(raw, a)
    assert combined.metadata == {
        "env": "from-object-group",
        "summary": "from-object-group",
        "only-event": "e",
        "revision": "main@sha1:abc",
        "team": "platform",
    }
    assert conflicts == ["env", "summary"]
    # everything else of the event is unchanged
    assert (combined.message, combined.involved_object) == (raw.message, raw.involved_object)


@pytest.mark.parametrize(
    ("event_meta", "event_metadata", "summary", "expected", "conflicts"),
    [
        ({f"{EV}/k": "1"}, {"k": "2"}, "", {"k": "2"}, ["k"]),
        ({}, {"summary": "meta"}, "spec", {"summary": "spec"}, ["summary"]),
        ({f"{KS}/summary": "obj"}, {}, "spec", {"summary": "obj"}, ["summary"]),
        ({f"{EV}/k": "1"}, {}, "", {"k": "1"}, []),
        ({}, {}, "spec", {"summary": "spec"}, []),
        ({}, {"team": "x"}, "", {"team": "x"}, []),
        ({f"{KS}/revision": "r", f"{EV}/commit": "c"}, {}, "", {"revision": "r", "commit": "c"}, []),
    ],
)
def test_combine_cases(event_meta, event_metadata, summary, expected, conflicts):
    combined, found = combine_metadata(event(metadata=event_meta), alert(eventMetadata=event_metadata, summary=summary))
    assert combined.metadata == expected
    assert found == conflicts


def test_combine_with_nothing_leaves_metadata_empty_and_omitted():
    raw = event()
    combined, conflicts = combine_metadata(raw, alert())
    assert combined.metadata == {}
    assert conflicts == []
    assert '"metadata"' not in combined.go_json()


def test_combine_prefixed_keys_of_other_groups_are_not_stripped():
    # (clean-up at the door removes them; step C itself only strips the two prefixes)
    combined, _ = combine_metadata(event(metadata={"source.toolkit.fluxcd.io/revision": "x", f"{KS}/a": "1"}), alert())
    assert combined.metadata == {"a": "1"}


def test_combine_with_empty_group_strips_slash_prefix():
    raw = event(api_version="v1", metadata={"/revision": "r", f"{EV}/x": "y"})
    combined, _ = combine_metadata(raw, alert())
    assert combined.metadata == {"revision": "r", "x": "y"}


# --- §3.3 default commit status id ------------------------------------------------------------------


def test_default_commit_status_spec_example():
    evt = event(kind="Kustomization", name="gitops-system")
    assert default_commit_status(evt, "0c9c2e41-d2f9-4f9b-9c41-bebc1984d67a") == "kustomization/gitops-system/0c9c2e41"


def test_default_commit_status_lowercases_and_keeps_uid_without_dash():
    evt = event(kind="HelmRelease", name="PodInfo")
    assert default_commit_status(evt, "ABCDEF") == "helmrelease/podinfo/abcdef"
    assert default_commit_status(evt, "") == "helmrelease/podinfo/"


def test_commit_status_id_uses_provider_uid_without_expression():
    evt = event(kind="Kustomization", name="gitops-system")
    assert commit_status_id(evt, provider("github"), None) == "kustomization/gitops-system/0c9c2e41"
