"""The Flux event model (spec §1): parsing, validation, Go-JSON bytes, door-side metadata steps."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from fluxnotify.model import gojson
from fluxnotify.model.event import (
    Event,
    EventError,
    ObjectRef,
    clean_metadata,
    event_from_data,
    parse_event,
    parse_timestamp,
    strip_internal,
    validate_event,
)

# spec §1.4: the reference test's event, its exact bytes and its HMAC signature.
SPEC_JSON = (
    '{"involvedObject":{"kind":"GitRepository","namespace":"gitops-system","name":"webapp"},'
    '"severity":"info","timestamp":"2022-09-30T06:40:29Z","message":"message","reason":"reason",'
    '"metadata":{"test":"metadata"},"reportingController":"source-controller",'
    '"reportingInstance":"source-controller-xyz"}'
)
SPEC_KEY = "7152fed34dd6149a7c75a276c510da27cb6f82b0"
SPEC_SIGNATURE = "sha256=65b018549b1254e7226d1c08f9567ee45bc9de0fc4e7b1a40253f9a018b08be7"
EMPTY_JSON = '{"involvedObject":{},"severity":"","timestamp":null,"message":"","reason":"","reportingController":""}'

KS_GROUP = "kustomize.toolkit.fluxcd.io"


def ks_event(metadata: dict[str, str] | None = None, message: str = "applied", **ref) -> Event:
    values = {"kind": "Kustomization", "namespace": "flux-system", "name": "apps",
              "api_version": f"{KS_GROUP}/v1", **ref}
    return Event(
        involved_object=ObjectRef(**values),
        severity="info",
        message=message,
        reason="ReconciliationSucceeded",
        metadata=dict(metadata or {}),
        reporting_controller="kustomize-controller",
    )


def parse_error(body) -> EventError:
    with pytest.raises(EventError) as caught:
        parse_event(body)
    return caught.value


# --- parsing -----------------------------------------------------------------------------


def test_spec_example_parses_into_every_field():
    event = parse_event(SPEC_JSON.encode())
    assert event.involved_object == ObjectRef(kind="GitRepository", namespace="gitops-system", name="webapp")
    assert event.severity == "info"
    assert event.timestamp == datetime(2022, 9, 30, 6, 40, 29, tzinfo=UTC)
    assert (event.message, event.reason) == ("message", "reason")
    assert event.metadata == {"test": "metadata"}
    assert event.reporting_controller == "source-controller"
    assert event.reporting_instance == "source-controller-xyz"


def test_keys_match_fields_case_insensitively():
    body = json.dumps({
        "INVOLVEDOBJECT": {"KIND": "Kustomization", "Namespace": "ns", "NAME": "n", "apiversion": "a.io/v1",
                           "UID": "u", "ResourceVersion": "7", "FIELDPATH": "spec"},
        "Severity": "error",
        "TimeStamp": "2022-09-30T06:40:29Z",
        "MESSAGE": "m",
        "Reason": "r",
        "MetaData": {"Key": "v"},
        "reportingcontroller": "c",
        "REPORTINGINSTANCE": "i",
    })
    event = parse_event(body)
    assert event.involved_object == ObjectRef("Kustomization", "ns", "n", "u", "a.io/v1", "7", "spec")
    assert (event.severity, event.message, event.reason) == ("error", "m", "r")
    assert event.metadata == {"Key": "v"}  # map keys are data: case kept
    assert (event.reporting_controller, event.reporting_instance) == ("c", "i")
    assert event.timestamp_text() == "2022-09-30T06:40:29Z"


def test_last_duplicate_key_wins_including_across_case():
    event = parse_event('{"message":"first","Message":"second","reason":"a","reason":"b"}')
    assert event.message == "second"
    assert event.reason == "b"
    ref = parse_event('{"involvedObject":{"name":"a","NAME":"b"}}').involved_object
    assert ref.name == "b"


def test_metadata_keys_differing_in_case_are_distinct_and_duplicates_take_the_last():
    event = parse_event('{"metadata":{"A":"1","a":"2","b":"x","b":"y"}}')
    assert event.metadata == {"A": "1", "a": "2", "b": "y"}


def test_unknown_keys_are_ignored_whatever_their_type():
    event = parse_event('{"message":"m","extra":{"deep":[1,2,{"x":null}]},"count":5,"flag":true,'
                        '"involvedObject":{"kind":"K","color":7}}')
    assert event.message == "m"
    assert event.involved_object == ObjectRef(kind="K")


def test_null_leaves_a_field_as_it_was():
    event = parse_event('{"message":"kept","message":null,"severity":null,"timestamp":null,'
                        '"involvedObject":null,"metadata":null,"reportingController":null}')
    assert event.message == "kept"
    assert event.severity == ""
    assert event.timestamp is None
    assert event.involved_object == ObjectRef()
    assert event.metadata == {}
    assert event.go_json() == EMPTY_JSON.replace('"message":""', '"message":"kept"')


def test_null_inside_involved_object_leaves_that_key_empty():
    assert parse_event('{"involvedObject":{"kind":"K","name":null}}').involved_object == ObjectRef(kind="K")


def test_null_metadata_value_becomes_empty_string():
    assert parse_event('{"metadata":{"a":null}}').metadata == {"a": ""}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"severity": 5}', "severity"),
        ('{"message": true}', "message"),
        ('{"reason": ["x"]}', "reason"),
        ('{"reportingController": {}}', "reportingController"),
        ('{"reportingInstance": 1.5}', "reportingInstance"),
        ('{"timestamp": 1664520029}', "timestamp"),
        ('{"involvedObject": "GitRepository/webapp"}', "involvedObject"),
        ('{"involvedObject": ["x"]}', "involvedObject"),
        ('{"involvedObject": 3}', "involvedObject"),
        ('{"metadata": ["a", "b"]}', "metadata"),
        ('{"metadata": "a=b"}', "metadata"),
    ],
)
def test_wrong_json_type_raises_naming_the_field(body, field):
    err = parse_error(body)
    assert err.field == field
    assert field in str(err)


def test_wrong_type_inside_involved_object_names_the_nested_field():
    err = parse_error('{"involvedObject": {"kind": "K", "name": 5}}')
    assert err.field == "involvedObject.name"
    assert "involvedObject.name" in str(err)


@pytest.mark.parametrize("value", ["1", "true", "{}", "[]"])
def test_metadata_with_non_string_value_raises_naming_metadata_and_key(value):
    err = parse_error('{"metadata": {"good": "x", "badkey": %s}}' % value)
    assert err.field is not None and err.field.startswith("metadata")
    assert "badkey" in str(err)


@pytest.mark.parametrize("body", [b"", b"   \n", b"not json", b"{", b'{"message": "m",}', b"[]", b'"str"',
                                  b"null", b"5", b'{"message": NaN}'])
def test_undecodable_or_non_object_bodies_raise(body):
    parse_error(body)


def test_bytes_and_str_bodies_parse_the_same():
    assert parse_event(SPEC_JSON) == parse_event(SPEC_JSON.encode())


def test_event_from_plain_dict_equals_parsed_event():
    assert event_from_data(json.loads(SPEC_JSON)) == parse_event(SPEC_JSON)


# --- timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-09-30T06:40:29Z", "2022-09-30T06:40:29Z"),
        ("2022-09-30T06:40:29.999999999Z", "2022-09-30T06:40:29Z"),  # dropped, not rounded
        ("2022-09-30T06:40:29.5Z", "2022-09-30T06:40:29Z"),
        ("2022-09-30T08:40:29+02:00", "2022-09-30T06:40:29Z"),
        ("2022-09-30T08:40:29.123+02:00", "2022-09-30T06:40:29Z"),
        ("2022-09-30T01:10:29-05:30", "2022-09-30T06:40:29Z"),
        ("2022-12-31T23:30:00-01:00", "2023-01-01T00:30:00Z"),
        ("2023-01-01T00:30:00+01:00", "2022-12-31T23:30:00Z"),
        ("2024-02-29T12:00:00+00:00", "2024-02-29T12:00:00Z"),
    ],
)
def test_valid_rfc3339_timestamps_serialise_in_utc_with_second_precision(text, expected):
    event = parse_event(json.dumps({"timestamp": text}))
    assert event.timestamp_text() == expected
    assert f'"timestamp":"{expected}"' in event.go_json()


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00Z", "0001-01-01T01:00:00+01:00"])
def test_zero_time_serialises_as_null(text):
    assert parse_timestamp(text) is None
    event = parse_event(json.dumps({"timestamp": text}))
    assert event.timestamp is None
    assert '"timestamp":null' in event.go_json()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2022-09-30",
        "2022-09-30T06:40:29",          # no zone
        "2022-09-30 06:40:29Z",         # space instead of T
        "2022-09-30T06:40:29+0200",     # offset without colon
        "2022-09-30T06:40Z",
        "2022-9-30T06:40:29Z",
        "2022-09-30T06:40:29.Z",
        "2022-13-01T00:00:00Z",         # month 13
        "2022-02-30T00:00:00Z",         # no such day
        "2023-02-29T00:00:00Z",
        "2022-09-30T24:00:00Z",
        "2022-09-30T06:60:29Z",
        "2022-09-30T06:40:29Z ",
    ],
)
def test_bad_timestamps_raise_naming_the_timestamp_field(text):
    err = parse_error(json.dumps({"timestamp": text}))
    assert err.field == "timestamp"
    with pytest.raises(EventError):
        parse_timestamp(text)


@pytest.mark.parametrize("text", ["2022-09-30T06:40:29+24:00", "2022-09-30T06:40:29-23:60"])
def test_out_of_range_offset_is_an_event_error(text):
    err = parse_error(json.dumps({"timestamp": text}))
    assert err.field == "timestamp"


def test_offset_minutes_above_59_are_rejected():
    parse_error(json.dumps({"timestamp": "2022-09-30T06:40:29+01:75"}))


def test_non_ascii_digits_are_not_rfc3339():
    parse_error(json.dumps({"timestamp": "\uff12\uff10\uff12\uff12-09-30T06:40:29Z"}))


# --- ingress validation (DESIGN.md "Ingress") ------------------------------------------------


def valid_event(**overrides) -> Event:
    event = parse_event(SPEC_JSON)
    return event_from_data({**json.loads(SPEC_JSON), **overrides}) if overrides else event


@pytest.mark.parametrize("severity", ["trace", "info", "error"])
def test_validate_accepts_the_three_severities(severity):
    validate_event(valid_event(severity=severity))


@pytest.mark.parametrize("attr", ["kind", "name", "namespace"])
def test_validate_requires_kind_name_namespace(attr):
    ref = {"kind": "GitRepository", "namespace": "gitops-system", "name": "webapp"}
    del ref[attr]
    with pytest.raises(EventError) as caught:
        validate_event(valid_event(involvedObject=ref))
    assert caught.value.field == f"involvedObject.{attr}"
    assert f"involvedObject.{attr}" in str(caught.value)


def test_validate_reports_missing_involved_object():
    with pytest.raises(EventError) as caught:
        validate_event(parse_event('{"severity":"info"}'))
    assert caught.value.field.startswith("involvedObject.")


@pytest.mark.parametrize("severity", ["bogus", "", "INFO", "Error", "warning"])
def test_validate_rejects_other_severities(severity):
    with pytest.raises(EventError) as caught:
        validate_event(valid_event(severity=severity))
    assert caught.value.field == "severity"


def test_parse_itself_is_lenient_about_semantics():
    # spec §1.3: decoding accepts a bogus severity and a missing involvedObject
    event = parse_event('{"severity":"bogus"}')
    assert event.severity == "bogus"
    assert event.involved_object == ObjectRef()


# --- Go-JSON (spec §1.4) -----------------------------------------------------------------------


def test_spec_example_reproduces_its_bytes_and_hmac_signature():
    event = parse_event(SPEC_JSON)
    body = event.go_json().encode("utf-8")
    assert body == SPEC_JSON.encode("utf-8")
    digest = hmac.new(SPEC_KEY.encode(), body, hashlib.sha256).hexdigest()
    assert "sha256=" + digest == SPEC_SIGNATURE


def test_spec_example_built_from_the_model_gives_the_same_bytes():
    event = Event(
        involved_object=ObjectRef(kind="GitRepository", namespace="gitops-system", name="webapp"),
        severity="info",
        timestamp=datetime(2022, 9, 30, 6, 40, 29, 123456, tzinfo=UTC),
        message="message",
        reason="reason",
        metadata={"test": "metadata"},
        reporting_controller="source-controller",
        reporting_instance="source-controller-xyz",
    )
    assert event.go_json() == SPEC_JSON


def test_all_empty_event():
    assert Event().go_json() == EMPTY_JSON
    assert parse_event("{}").go_json() == EMPTY_JSON
    assert parse_event('{"metadata":{}, "reportingInstance":""}').go_json() == EMPTY_JSON


def test_involved_object_keys_in_go_struct_order():
    ref = ObjectRef(kind="K", namespace="ns", name="n", uid="u", api_version="g/v1",
                    resource_version="42", field_path="spec.x")
    assert gojson.dumps(Event(involved_object=ref).to_dict()).startswith(
        '{"involvedObject":{"kind":"K","namespace":"ns","name":"n","uid":"u","apiVersion":"g/v1",'
        '"resourceVersion":"42","fieldPath":"spec.x"},'
    )
    # reading the JSON back in a different key order gives the same bytes
    shuffled = '{"reportingController":"c","involvedObject":{"fieldPath":"spec.x","resourceVersion":"42",' \
        '"apiVersion":"g/v1","uid":"u","name":"n","namespace":"ns","kind":"K"}}'
    assert parse_event(shuffled).go_json() == (
        '{"involvedObject":{"kind":"K","namespace":"ns","name":"n","uid":"u","apiVersion":"g/v1",'
        '"resourceVersion":"42","fieldPath":"spec.x"},"severity":"","timestamp":null,"message":"",'
        '"reason":"","reportingController":"c"}'
    )


def test_to_dict_omits_empty_metadata_and_reporting_instance():
    data = Event(message="m").to_dict()
    assert list(data) == ["involvedObject", "severity", "timestamp", "message", "reason", "reportingController"]
    full = parse_event(SPEC_JSON).to_dict()
    assert list(full) == ["involvedObject", "severity", "timestamp", "message", "reason", "metadata",
                          "reportingController", "reportingInstance"]


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("<b>&amp;</b>", "\\u003cb\\u003e\\u0026amp;\\u003c/b\\u003e"),
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),
        ("\x08\x0c", "\\u0008\\u000c"),
        ("\x00\x01\x1f\x0b", "\\u0000\\u0001\\u001f\\u000b"),
        ("\x1b[0m", "\\u001b[0m"),
        ("\n\r\t", "\\n\\r\\t"),
        ('"\\', '\\"\\\\'),
        ("a/b\x7fc", "a/b\x7fc"),  # '/' and DEL are not escaped
        ("é ü ✓ 漢字 😀", "é ü ✓ 漢字 😀"),  # non-ASCII raw
        ("\u0085\u00a0\ufeff", "\u0085\u00a0\ufeff"),
        ("x\ud800y", "x\ufffdy"),  # lone surrogate -> U+FFFD
        ("\udfff", "\ufffd"),
    ],
)
def test_string_escaping(text, encoded):
    assert gojson.quote(text) == f'"{encoded}"'
    event = Event(message=text)
    assert f'"message":"{encoded}"' in event.go_json()


def test_control_escapes_are_lower_case_hex():
    assert gojson.quote("\x1a\x1e") == '"\\u001a\\u001e"'


def test_escaped_body_is_still_valid_json_for_the_same_text():
    text = "<>&\u2028\u2029\x08\x0c\x00/\x7f é 😀 \"\\\n"
    assert json.loads(gojson.quote(text)) == text


def test_lone_surrogate_from_a_json_escape_becomes_replacement_character():
    event = parse_event('{"message":"a\\ud800b","reason":"\\ud83d\\ude00"}')
    out = event.go_json()
    assert '"message":"a\ufffdb"' in out
    assert '"reason":"😀"' in out
    out.encode("utf-8")  # always encodable


def test_invalid_utf8_bytes_in_body_become_replacement_character():
    event = parse_event(b'{"message":"a\xffb"}')
    assert event.message == "a\ufffdb"
    assert '"message":"a\ufffdb"' in event.go_json()


def test_metadata_sorted_by_utf8_bytes_on_output():
    metadata = {"b": "1", "a": "2", "Z": "3", "é": "4", "~": "5", "😀": "6", "\uffff": "7", "a_": "8", "A": "9",
                "aa": "10", "": "11"}
    event = Event(metadata=metadata)
    out = event.go_json()
    expected = ('"metadata":{"":"11","A":"9","Z":"3","a":"2","a_":"8","aa":"10","b":"1","~":"5","é":"4",'
                '"\uffff":"7","😀":"6"}')
    assert expected in out
    # the same from JSON input in a different order
    assert parse_event(json.dumps({"metadata": metadata}, ensure_ascii=False)).go_json() == out


def test_metadata_keys_are_escaped_like_values():
    out = Event(metadata={"<k>": "&v"}).go_json()
    assert '"metadata":{"\\u003ck\\u003e":"\\u0026v"}' in out


def test_go_json_round_trips_through_parse():
    event = parse_event(SPEC_JSON)
    assert parse_event(event.go_json()) == event


# --- spec §2.4 step A: clean-up at the door ----------------------------------------------------


def test_clean_metadata_keeps_event_group_and_object_group_keys():
    raw = {
        f"{KS_GROUP}/revision": "main@sha1:abc",
        f"{KS_GROUP}/originRevision": "o",
        f"{KS_GROUP}/token": "t",
        "event.toolkit.fluxcd.io/commit": "c0ffee",
        "event.toolkit.fluxcd.io/environment": "prod",
        f"{KS_GROUP}/checksum": "dropped",
        f"{KS_GROUP}/digest": "dropped",
        "source.toolkit.fluxcd.io/revision": "other group: dropped",
        "revision": "bare: dropped",
        "kustomize.toolkit.fluxcd.iox/a": "not the group prefix: dropped",
        "Event.toolkit.fluxcd.io/x": "prefix is case-sensitive: dropped",
    }
    cleaned = clean_metadata(ks_event(raw))
    assert cleaned.metadata == {
        f"{KS_GROUP}/revision": "main@sha1:abc",
        f"{KS_GROUP}/originRevision": "o",
        f"{KS_GROUP}/token": "t",
        "event.toolkit.fluxcd.io/commit": "c0ffee",
        "event.toolkit.fluxcd.io/environment": "prod",
    }


@pytest.mark.parametrize("key", ["Checksum", "CHECKSUM", "Digest", "dIgEsT"])
def test_clean_metadata_drops_checksum_and_digest_case_insensitively(key):
    assert clean_metadata(ks_event({f"{KS_GROUP}/{key}": "x", f"{KS_GROUP}/keep": "y"})).metadata == {
        f"{KS_GROUP}/keep": "y"
    }


def test_clean_metadata_keeps_event_group_checksum():
    # only <objectGroup>/checksum and /digest are dropped
    meta = {"event.toolkit.fluxcd.io/checksum": "a", "event.toolkit.fluxcd.io/digest": "b"}
    assert clean_metadata(ks_event(meta)).metadata == meta


def test_clean_metadata_with_empty_group_uses_slash_prefix():
    event = ks_event({"/x": "1", "x": "2", "/checksum": "3", "/DIGEST": "4", "event.toolkit.fluxcd.io/y": "5"},
                     api_version="v1")
    assert event.group == ""
    assert clean_metadata(event).metadata == {"/x": "1", "event.toolkit.fluxcd.io/y": "5"}


@pytest.mark.parametrize(
    ("api_version", "group"),
    [("kustomize.toolkit.fluxcd.io/v1", "kustomize.toolkit.fluxcd.io"), ("v1", ""), ("", ""), ("a/b/c", "")],
)
def test_object_group(api_version, group):
    assert ObjectRef(api_version=api_version).group == group


def test_clean_metadata_with_nothing_left_is_empty_and_omitted():
    cleaned = clean_metadata(ks_event({"foo": "bar"}))
    assert cleaned.metadata == {}
    assert '"metadata"' not in cleaned.go_json()


# --- spec §2.4 step B ---------------------------------------------------------------------------


def test_strip_internal_removes_only_the_object_group_token():
    meta = {f"{KS_GROUP}/token": "t", "event.toolkit.fluxcd.io/token": "kept", f"{KS_GROUP}/revision": "r"}
    stripped = strip_internal(ks_event(meta))
    assert stripped.metadata == {"event.toolkit.fluxcd.io/token": "kept", f"{KS_GROUP}/revision": "r"}


def test_strip_internal_without_token_is_unchanged():
    event = ks_event({f"{KS_GROUP}/revision": "r"})
    assert strip_internal(event) == event
