"""API Gateway HTTP API (payload v2, and v1 shapes) ↔ Receiver, for the Lambda handler.

Whatever API Gateway — or anything else invoking the function — hands over, the answer is
a clean HTTP response: a missing body is an empty body, missing headers are no headers, a
missing requestContext falls back to the event's own method/path fields (else 400), bad
base64 is 400. Never an unhandled exception.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

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
