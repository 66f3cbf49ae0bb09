"""Webhook tokens per cluster: the format of the token secret, and a token's cluster.

The secret holds either a JSON object mapping cluster name to a list of tokens
(``{"prod-eu": ["…"], "staging": ["…", "…"]}``: two tokens give rotation with overlap) or a
plain string, which is one token of the cluster named ``default``. Locally the same map is
built from ``serve --token T`` (cluster ``default``) and ``--cluster NAME=TOKEN``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from fluxnotify.model.event import EVENT_GROUP_PREFIX, Event
from fluxnotify.queue.messages import DEFAULT_CLUSTER

CLUSTER_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")  # a DNS label, like a Kubernetes name

SIGNATURE = re.compile(r"^\s*sha256\s*=\s*([0-9a-fA-F]{64})\s*$")  # X-Signature of generic-hmac
CLUSTER_HINT_HEADER = "x-fluxnotify-cluster"

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


def signing_cluster(tokens: TokenMap, hint: str | None) -> str | None:
    """The one cluster whose tokens may have signed a request, so that verifying costs the same
    however many clusters there are (HMAC-ing a body with every token is a CPU amplifier).

    The hint (a cluster name in the path or the ``X-Fluxnotify-Cluster`` header) names it;
    without one, the ``default`` cluster, or the only cluster of a secret that has one (so a
    single-cluster stack's generic-hmac setup keeps working unchanged).
    """
    if hint:
        return hint if hint in tokens else None
    if DEFAULT_CLUSTER in tokens:
        return DEFAULT_CLUSTER
    return next(iter(tokens)) if len(tokens) == 1 else None


def cluster_for_signature(tokens: TokenMap, body: bytes, signature: str, hint: str | None = None) -> str | None:
    """The cluster whose token signs ``body`` as ``sha256=<hex>`` (generic-hmac), or None.

    One HMAC per token of ``signing_cluster`` (two during a rotation), none for a header that
    is not ``sha256=`` and 64 hex digits.
    """
    match = SIGNATURE.match(signature)
    name = signing_cluster(tokens, hint)
    if match is None or name is None:
        return None
    presented = match.group(1).lower().encode("ascii")
    found = False
    for token in tokens[name]:  # every token of the cluster, in constant time
        digest = hmac.new(token.encode("utf-8"), body, hashlib.sha256).hexdigest().encode("ascii")
        found = hmac.compare_digest(digest, presented) or found
    return name if found else None


CLUSTER_METADATA_KEY = EVENT_GROUP_PREFIX + "cluster"


def tag_cluster(event: Event, cluster: str) -> Event:
    """The event with metadata ``cluster: NAME`` for a named cluster, replacing any it brought.

    The name is the one the token authenticated, so it wins over a ``cluster`` key that came
    with the event (bare, with either prefix, in any letter case): a cluster's token cannot make
    its notifications name another cluster. Added after the door's clean-up (spec §2.4 step A)
    under the event-group prefix, so it survives it and the queue; step C hands providers the
    bare key ``cluster`` at the lowest precedence, so only an Alert's ``eventMetadata.cluster``
    (configuration, trusted) can still set it. The ``default`` cluster has no authenticated
    name: its events keep whatever ``cluster`` key they carry, as in Flux.
    """
    if cluster == DEFAULT_CLUSTER:
        return event
    prefixes = ("", EVENT_GROUP_PREFIX, f"{event.group}/")
    kept = {key: value for key, value in event.metadata.items()
            if not any(key.startswith(p) and key[len(p):].lower() == "cluster" for p in prefixes)}
    return event.with_metadata({**kept, CLUSTER_METADATA_KEY: cluster})
