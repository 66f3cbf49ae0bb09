import hashlib
import hmac
from types import SimpleNamespace

import pytest

from fluxnotify.ingress import clusters as clusters_module
from fluxnotify.ingress.clusters import (
    TokenSecretError,
    cluster_for_signature,
    cluster_for_token,
    dump_token_secret,
    parse_token_secret,
    signing_cluster,
)
from fluxnotify.queue.messages import Envelope, parse_envelope


def test_a_plain_string_is_one_token_of_the_default_cluster():
    assert parse_token_secret(" s3cret\n") == {"default": ["s3cret"]}


def test_a_json_object_maps_clusters_to_tokens():
    tokens = parse_token_secret('{"prod-eu": ["a1"], "staging": ["b1", "b2"]}')
    assert tokens == {"prod-eu": ["a1"], "staging": ["b1", "b2"]}
    assert cluster_for_token(tokens, "b2") == "staging"
    assert cluster_for_token(tokens, "a1") == "prod-eu"
    assert cluster_for_token(tokens, "nope") is None
    assert parse_token_secret(dump_token_secret(tokens)) == tokens


@pytest.mark.parametrize(
    "text, problem",
    [("", "empty"), ("{", "not valid JSON"), ('{"Bad_Name": ["t"]}', "DNS label"), ('{"a": []}', "non-empty")],
)
def test_a_bad_secret_is_refused_without_quoting_tokens(text, problem):
    with pytest.raises(TokenSecretError, match=problem):
        parse_token_secret(text)


def sign(token: str, body: bytes) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def test_a_signature_is_checked_against_the_cluster_the_hint_names():
    tokens = {"prod": ["p"], "dev": ["d-old", "d-new"]}
    body = b'{"message":"x"}'
    assert cluster_for_signature(tokens, body, sign("d-new", body), hint="dev") == "dev"
    assert cluster_for_signature(tokens, body, sign("d-old", body).upper().replace("SHA256", "sha256"),
                                 hint="dev") == "dev"
    assert cluster_for_signature(tokens, body + b" ", sign("d-new", body), hint="dev") is None
    assert cluster_for_signature(tokens, body, sign("d-new", body), hint="prod") is None
    assert cluster_for_signature(tokens, body, sign("d-new", body), hint="nope") is None
    # Several clusters and no default: without a hint no cluster is guessed.
    assert cluster_for_signature(tokens, body, sign("d-new", body)) is None


def test_without_a_hint_the_default_or_the_only_cluster_signs():
    body = b"{}"
    assert cluster_for_signature({"default": ["t"], "prod": ["p"]}, body, sign("t", body)) == "default"
    assert cluster_for_signature({"default": ["t"], "prod": ["p"]}, body, sign("p", body)) is None
    assert cluster_for_signature({"prod": ["p"]}, body, sign("p", body)) == "prod"
    assert signing_cluster({"a": ["1"], "b": ["2"]}, None) is None


def count_hmacs(monkeypatch) -> list[bytes]:
    keys: list[bytes] = []

    def counting(key, *args, **kwargs):
        keys.append(key)
        return hmac.new(key, *args, **kwargs)

    monkeypatch.setattr(clusters_module, "hmac", SimpleNamespace(new=counting, compare_digest=hmac.compare_digest))
    return keys


@pytest.mark.parametrize("signature", ["sha256=" + "ab" * 32, "sha256=00", "sha1=" + "ab" * 20, "garbage"])
def test_a_bogus_signature_costs_the_same_with_200_clusters_as_with_one(monkeypatch, signature):
    body = b"x" * 100_000
    one = {"default": ["t"]}
    many = {"default": ["t"], **{f"c{i}": [f"old-{i}", f"new-{i}"] for i in range(199)}}
    keys = count_hmacs(monkeypatch)
    assert cluster_for_signature(one, body, signature) is None
    cost_one = len(keys)
    assert cluster_for_signature(many, body, signature) is None
    assert len(keys) - cost_one == cost_one <= 1
    keys.clear()
    assert cluster_for_signature(many, body, signature, hint="c7") is None
    assert len(keys) <= 2 and all(key.endswith(b"-7") for key in keys)


def test_the_cluster_travels_in_the_queue_message_and_defaults_for_older_ones():
    assert parse_envelope(Envelope({"message": "m"}, cluster="prod").to_json()).cluster == "prod"
    assert parse_envelope('{"event": {"message": "m"}, "attempt": 2}').cluster == "default"
