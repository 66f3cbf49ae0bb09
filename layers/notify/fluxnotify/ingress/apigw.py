"""API Gateway HTTP API (payload v2, and v1 shapes) ↔ Receiver, for the Lambda handler.

Whatever API Gateway — or anything else invoking the function — hands over, the answer is
a clean HTTP response: a missing body is an empty body, missing headers are no headers, a
missing requestContext falls back to the event's own method/path fields (else 400), bad
base64 is 400. Never an unhandled exception.

``redacted_event`` is the copy of an invocation that may be logged (Powertools' switch
``POWERTOOLS_LOGGER_LOG_EVENT``): the request path carries the webhook token.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import quote

from fluxnotify.ingress.receiver import HttpResponse, Receiver


def handle_api_event(receiver: Receiver, event: Any) -> dict:
    request = _request(event)
    answer = request if isinstance(request, HttpResponse) else receiver.handle(*request)
    return {"statusCode": answer.status, "headers": {"Content-Type": "application/json", **answer.headers},
            "body": answer.body, "isBase64Encoded": False}


def _request(event: Any) -> tuple[str, str, dict[str, str], bytes] | HttpResponse:
    if not isinstance(event, dict):
        return _bad("the invocation is not an API Gateway event")
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    http = http if isinstance(http, dict) else {}
    method = http.get("method") or event.get("httpMethod")
    path = event.get("rawPath") or http.get("path") or event.get("path") or "/"
    if not isinstance(method, str) or not method or not isinstance(path, str):
        return _bad("the API Gateway event has no HTTP method")
    headers = event.get("headers")
    headers = {str(k): v for k, v in headers.items() if isinstance(v, str)} if isinstance(headers, dict) else {}
    body = event.get("body")
    if body is None:
        return method, path, headers, b""
    if not isinstance(body, str):
        return _bad("the API Gateway event's body is not a string")
    if event.get("isBase64Encoded") is True:
        try:
            return method, path, headers, base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return _bad("the request body is not valid base64")
    return method, path, headers, body.encode("utf-8", "surrogatepass")


def _bad(message: str) -> HttpResponse:
    return HttpResponse(400, json.dumps({"error": message, "status": 400}), {"Content-Type": "application/json"})


REDACTED = "***"
PATH_FIELDS = ("rawPath", "path")  # top level (payload v2 / v1); requestContext holds more
CONTEXT_PATH_FIELDS = ("path", "resourcePath")


def redacted_event(event: Any) -> Any:
    """A deep copy of ``event`` with every segment of the request path masked everywhere.

    Any segment may be a webhook token (a wrong one may be a typo of a right one). The path is
    repeated in rawPath, path, requestContext(.http).path, routeKey and pathParameters; each
    segment found there is replaced in every string of the event (headers and body included),
    plain, URL-quoted and base64 (whole, and inside a longer base64 text such as the body).
    """
    secrets = _path_segments(event)
    forms = sorted({form for secret in secrets for form in _forms(secret)}, key=len, reverse=True)
    try:
        return _mask(event, forms)
    except RecursionError:  # any invocation may be logged; none may fail for it
        return {"redacted": "the event is nested too deeply to be logged"}


def _path_segments(event: Any) -> set[str]:
    if not isinstance(event, dict):
        return set()
    context = _dict(event.get("requestContext"))
    http = _dict(context.get("http"))
    parameters = _dict(event.get("pathParameters"))
    route = event.get("routeKey")
    route = route.partition(" ")[2] if isinstance(route, str) else None  # "POST /{proxy+}"
    paths = [event.get(name) for name in PATH_FIELDS] + [http.get("path"), route]
    paths += [context.get(name) for name in CONTEXT_PATH_FIELDS] + list(parameters.values())
    return {segment for path in paths if isinstance(path, str)
            for segment in path.split("?")[0].split("/") if segment}


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _forms(secret: str) -> tuple[str, ...]:
    """The secret, URL-quoted, and base64: alone, and inside a longer text at each of the three
    byte alignments (the 4-character groups that hold only the secret's bytes)."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = [secret, quote(raw, safe=""), base64.b64encode(raw).decode()]
    for shift in range(3):
        shifted = b"\0" * shift + raw
        whole = base64.b64encode(shifted[: len(shifted) - len(shifted) % 3]).decode()
        forms.append(whole[4:] if shift else whole)  # the first group mixes in the unknown byte(s)
    return tuple(form for form in forms if form)


def _mask(value: Any, forms: list[str]) -> Any:
    if isinstance(value, dict):
        return {key: _mask(item, forms) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item, forms) for item in value]
    if isinstance(value, str):
        for form in forms:
            value = value.replace(form, REDACTED)
    return value
