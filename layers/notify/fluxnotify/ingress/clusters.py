"""Webhook tokens per cluster: the format of the token secret, and a token's cluster.

The secret holds either a JSON object mapping cluster name to a list of tokens
(``{"prod-eu": ["…"], "staging": ["…", "…"]}``: two tokens give rotation with overlap) or a
plain string, which is one token of the cluster named ``default``. Locally the same map is
built from ``serve --token T`` (cluster ``default``) and ``--cluster NAME=TOKEN``.
"""

from __future__ import annotations

import hmac
import json
import re

from fluxnotify.model.event import Event
from fluxnotify.queue.messages import DEFAULT_CLUSTER

CLUSTER_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")  # a DNS label, like a Kubernetes name

TokenMap = dict[str, list[str]]


class TokenSecretError(ValueError):
    """The token secret is not a plain token nor a JSON object of cluster → list of tokens."""


def parse_token_secret(text: str) -> TokenMap:
    """The cluster → tokens map held by a token secret (never quotes a token in an error)."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        if not stripped:
            raise TokenSecretError("the webhook token secret is empty")
        return {DEFAULT_CLUSTER: [stripped]}
    try:
        data = json.loads(stripped)
    except ValueError:
        raise TokenSecretError("the webhook token secret is not valid JSON") from None
    if not isinstance(data, dict):
        raise TokenSecretError("the webhook token secret must be a JSON object of cluster → tokens")
    tokens: TokenMap = {}
    for name, value in data.items():
        if not CLUSTER_NAME.match(name):
            raise TokenSecretError(f"cluster name {name!r} is not a DNS label (a-z, 0-9, '-')")
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(t, str) and t.strip() for t in value):
            raise TokenSecretError(f"cluster {name!r}: tokens must be a non-empty list of strings")
        tokens[name] = [t.strip() for t in value]
    return tokens


def dump_token_secret(tokens: TokenMap) -> str:
    """The secret text for a map (always the JSON form, clusters sorted)."""
    return json.dumps({name: tokens[name] for name in sorted(tokens)}, separators=(",", ":"))


def cluster_for_token(tokens: TokenMap, presented: str) -> str | None:
    """The cluster whose token this is, or None. Every token is compared, in constant time."""
    found = None
    for name, values in tokens.items():
        for token in values:
            if hmac.compare_digest(token.encode("utf-8"), presented.encode("utf-8")):
                found = found or name
    return found


def cluster_for_signature(tokens: TokenMap, body: bytes, signature: str) -> str | None:
    """The cluster whose token signs ``body`` as ``sha256=<hex>`` (generic-hmac), or None."""
    import hashlib

    found = None
    for name, values in tokens.items():
        for token in values:
            digest = hmac.new(token.encode("utf-8"), body, hashlib.sha256).hexdigest()
            if hmac.compare_digest(f"sha256={digest}".encode(), signature.strip().encode("utf-8", "replace")):
                found = found or name
    return found


CLUSTER_METADATA_KEY = "event.toolkit.fluxcd.io/cluster"


def tag_cluster(event: Event, cluster: str) -> Event:
    """The event with metadata ``cluster: NAME`` for a named cluster, unless it has that key.

    Added after the door's clean-up (spec §2.4 step A) under the event-group prefix, so it
    survives it and the queue, and step C hands providers the bare key ``cluster`` at the
    lowest precedence (an Alert's ``eventMetadata.cluster`` or an object-group key wins).
    A key ``cluster`` the event already carries, bare (forwarded) or prefixed, is kept.
    """
    if cluster == DEFAULT_CLUSTER:
        return event
    present = ("cluster", CLUSTER_METADATA_KEY, f"{event.group}/cluster")
    if any(key in event.metadata for key in present):
        return event
    return event.with_metadata({**event.metadata, CLUSTER_METADATA_KEY: cluster})
