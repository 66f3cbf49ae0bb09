import hashlib
import hmac

import pytest

from fluxnotify.ingress.clusters import (
    TokenSecretError,
    cluster_for_signature,
    cluster_for_token,
    dump_token_secret,
    parse_token_secret,
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


def test_a_signature_resolves_to_the_cluster_whose_token_signed_the_body():
    tokens = {"prod": ["p"], "dev": ["d"]}
    body = b'{"message":"x"}'
    signature = "sha256=" + hmac.new(b"d", body, hashlib.sha256).hexdigest()
    assert cluster_for_signature(tokens, body, signature) == "dev"
    assert cluster_for_signature(tokens, body + b" ", signature) is None


def test_the_cluster_travels_in_the_queue_message_and_defaults_for_older_ones():
    assert parse_envelope(Envelope({"message": "m"}, cluster="prod").to_json()).cluster == "prod"
    assert parse_envelope('{"event": {"message": "m"}, "attempt": 2}').cluster == "default"
