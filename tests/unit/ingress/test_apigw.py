"""The copy of an API Gateway event that may be logged: no form of the path's token survives."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from fluxnotify.ingress.apigw import redacted_event

TOKEN = "tok_EN-0123456789abcdefXYZ~"


def event_with_token() -> dict:
    return {
        "version": "2.0", "routeKey": f"POST /{TOKEN}", "rawPath": f"/{TOKEN}", "path": f"/{TOKEN}",
        "rawQueryString": "", "pathParameters": {"proxy": TOKEN},
        "headers": {"content-type": "application/json", "referer": f"https://x/{quote(TOKEN, safe='')}"},
        "requestContext": {"http": {"method": "POST", "path": f"/{TOKEN}"}, "path": f"/prod/{TOKEN}",
                           "requestId": "r-1", "routeKey": f"POST /{TOKEN}"},
        "body": base64.b64encode(json.dumps({"message": f"x{TOKEN}"}).encode()).decode(),
        "multiValueHeaders": {"x-forwarded": [f"/{TOKEN}"]},
        "isBase64Encoded": True,
    }


def test_every_form_of_the_path_token_is_masked_and_the_rest_kept():
    original = event_with_token()
    logged = json.dumps(redacted_event(original))
    for form in (TOKEN, quote(TOKEN, safe=""), base64.b64encode(TOKEN.encode()).decode()):
        assert form not in logged
    shown = redacted_event(original)
    assert shown["rawPath"] == shown["path"] == shown["requestContext"]["http"]["path"] == "/***"
    assert shown["pathParameters"] == {"proxy": "***"} and shown["routeKey"] == "POST /***"
    assert shown["requestContext"]["requestId"] == "r-1" and shown["requestContext"]["http"]["method"] == "POST"
    assert original["rawPath"] == f"/{TOKEN}"  # a copy: the request itself is untouched


def test_a_token_inside_a_base64_body_is_masked_at_any_alignment():
    for prefix in (b"", b"a", b"ab", b"abc", b"abcd"):
        original = base64.b64encode(prefix + TOKEN.encode() + b"tail").decode()
        masked = redacted_event({"rawPath": f"/{TOKEN}", "body": original})["body"]
        # The base64 characters made of the token's bytes alone, minus a group at each edge.
        first, last = -(-len(prefix) * 8 // 6), (len(prefix) + len(TOKEN)) * 8 // 6
        inner = original[first + 4:last - 4]
        assert len(inner) >= 16 and inner not in masked and "***" in masked


def test_anything_that_is_not_an_api_event_is_returned_as_is():
    assert redacted_event("text") == "text" and redacted_event(None) is None
    assert redacted_event({"rawPath": 5, "body": "b"}) == {"rawPath": 5, "body": "b"}


def test_a_lone_surrogate_in_the_path_is_masked_without_an_error():
    assert redacted_event({"rawPath": "/\ud800x", "body": "a\ud800x"})["body"] == "a***"


def test_an_event_nested_too_deeply_is_not_logged_rather_than_failing():
    nested: dict = {"rawPath": "/t0ken"}
    for _ in range(5000):
        nested = {"x": nested, "rawPath": "/t0ken"}
    assert "t0ken" not in json.dumps(redacted_event(nested))
