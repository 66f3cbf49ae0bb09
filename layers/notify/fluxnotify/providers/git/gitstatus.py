"""Helpers shared by the commit-status providers (spec §5.0, §1.2 GetRevision).

github, gitlab, bitbucket, bitbucketserver and azuredevops all follow the same outline
(gitea posts ``pending`` for Progressing instead of skipping):

* reason ``Progressing`` → nothing is sent (``Skip``);
* revision = GetRevision (``commit`` → ``originRevision`` → ``revision``), absent →
  ``missing revision metadata``; hash = ``parse_revision(revision)``;
* state from the severity (``info``/``error``), else ``can't convert to <x> state``;
* description from the reason (``split_camel``);
* read the existing statuses first and only write when the latest matching one differs.

Security: the hash and the repository segments end up in URL paths. The hash must be
exactly 40 URL-safe characters (``[A-Za-z0-9._~-]``) and every repository segment is
percent-encoded, so event data can never change the request path, query or host.
"""

from __future__ import annotations

import json
import re
import unicodedata
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import ProviderError, Skip, send_one
from fluxnotify.transport.http import DeliveryError, Request, Response, Transport, check_2xx

PROGRESSING = "Progressing"
REVISION_KEYS = ("commit", "originRevision", "revision")
_HASH_LENGTH = 40
_URL_SAFE = re.compile(r"[A-Za-z0-9._~-]+")
_URL_SCHEMES = frozenset({"ssh", "git", "git+ssh", "http", "https", "ftp", "ftps", "rsync", "file"})
# The reference's scp-like pattern, verbatim (the empty alternative makes the tail free).
_SCP_LIKE = re.compile(r"^([A-Za-z0-9\-._~]+@)?([A-Za-z0-9._\-]+):([A-Za-z0-9./._\-]+)(?:\?||$)(.*)$")
_SCP_MAX = 2048


# --- event side ----------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """What a commit-status provider posts for one event."""

    hash: str
    state: str
    description: str
    context: str  # the CommitStatus option (§3.3)


TEMPLATED_DESCRIPTION = "fluxnotify.io/description"  # set by the pipeline only, never by an event
MAX_TEMPLATED_DESCRIPTION = 140  # GitHub's limit, the smallest of the commit status APIs


def commit_status(event: Event, cfg: ProviderConfig, states: dict[str, str], label: str) -> Status:
    """The common rules of §5.0, in the reference's order; raises Skip or ProviderError."""
    if event.reason == PROGRESSING:
        raise Skip(PROGRESSING)
    commit = parse_revision(get_revision(event))
    state = states.get(event.severity)
    if state is None:
        raise ProviderError(f"can't convert to {label} state")
    # An Alert's fluxnotify.io/message template (delivery/extensions.py) replaces the description.
    text = event.metadata.get(TEMPLATED_DESCRIPTION) or description(event.reason)
    return Status(commit, state, text, cfg.commit_status)


def get_revision(event: Event) -> str:
    """GetRevision (§1.2): commit, then originRevision, then revision; presence decides."""
    for key in REVISION_KEYS:
        if key in event.metadata:
            return event.metadata[key]
    raise ProviderError("missing revision metadata")


def parse_revision(revision: str) -> str:
    """The commit hash of a Flux revision (§5.0), restricted to URL-safe characters."""
    if ":" in revision:
        commit = revision.rsplit(":", 1)[1]
    elif "/" in revision:
        commit = revision.rsplit("/", 1)[1]
    else:
        commit = revision
    if len(commit) != _HASH_LENGTH:
        raise ProviderError(f"failed to extract commit hash from '{revision}' revision")
    # Not in the reference: the hash goes into URL paths, so it must not carry '/', '%', '?'…
    if not _URL_SAFE.fullmatch(commit):
        raise ProviderError(
            f"invalid commit hash in '{revision}' revision: only the characters "
            "A-Z, a-z, 0-9, '.', '_', '~' and '-' are allowed"
        )
    return commit


def split_camel(text: str) -> list[str]:
    """fatih/camelcase Split as used by the reference (§5.0)."""
    runs: list[list[str]] = []
    last_class = None
    for char in text:
        char_class = _char_class(char)
        if runs and char_class == last_class:
            runs[-1].append(char)
        else:
            runs.append([char])
        last_class = char_class
    for i in range(len(runs) - 1):
        # "PDFL" + "oader" → "PDF" + "Loader": an upper run gives its last letter away.
        if runs[i] and _char_class(runs[i][0]) == "upper" and _char_class(runs[i + 1][0]) == "lower":
            runs[i + 1].insert(0, runs[i].pop())
    return ["".join(run) for run in runs if run]


def _char_class(char: str) -> str:
    category = unicodedata.category(char)
    return {"Ll": "lower", "Lu": "upper", "Nd": "digit"}.get(category, "other")


def description(reason: str) -> str:
    """`ReconciliationSucceeded` → `reconciliation succeeded`."""
    return " ".join(split_camel(reason)).lower()


def object_name(event: Event) -> str:
    """lower(kind/name), the Bitbucket status name (§5.0)."""
    ref = event.involved_object
    return f"{ref.kind}/{ref.name}".lower()


# --- config side ------------------------------------------------------------------


def require_commit_status(cfg: ProviderConfig) -> None:
    if not cfg.commit_status:
        raise ConfigError("commit status cannot be empty")


def api_token(cfg: ProviderConfig) -> str:
    """The "fallback token" rule of §3.5: token, else password."""
    return cfg.token or cfg.password


def parse_git_address(address: str) -> tuple[str, str]:
    """(scheme://host[:port], repository id) of a git URL; never fails (§5.0)."""
    scheme, hostport, path = _split_git_url(address)
    if scheme == "ssh":
        scheme = "https"
    repository = path.lstrip("/")
    if repository.endswith(".git"):
        repository = repository[: -len(".git")]
    return f"{scheme}://{hostport}", repository


def _split_git_url(address: str) -> tuple[str, str, str]:
    try:
        parts = urllib.parse.urlsplit(address)
        if parts.scheme.lower() in _URL_SCHEMES:
            hostport = parts.netloc.rpartition("@")[2]
            return parts.scheme.lower(), hostport, urllib.parse.unquote(parts.path)
    except ValueError:
        pass
    if len(address) <= _SCP_MAX:
        match = _SCP_LIKE.match(address)
        if match:
            return "ssh", match.group(2), match.group(3)
    return "file", "", address


def split_repository(repository: str, parts: int, error: str) -> list[str]:
    """Split an id on '/' into exactly ``parts`` non-empty segments, else ConfigError(error)."""
    segments = repository.split("/")
    if len(segments) != parts:
        raise ConfigError(error)
    return segments


def segment(text: str) -> str:
    """One URL path segment, percent-encoded so that it can never add a '/' or a query."""
    return urllib.parse.quote(text, safe="")


# --- wire side ----------------------------------------------------------------------


def json_body(payload: Any, *, escape_html: bool = True, newline: bool = False) -> bytes:
    """Go json output: escape_html=False is the SDK encoder GitHub uses (body + '\\n')."""
    text = gojson.dumps(payload, escape_html)
    return (text + ("\n" if newline else "")).encode("utf-8")


Check = Callable[[Response], None]


def call(
    transport: Transport,
    request: Request,
    cfg: ProviderConfig,
    *,
    prefix: str,
    use_tls: bool = True,
    check: Check = check_2xx,
) -> Response:
    """One API call: no proxy (§5.7–5.10), TLS when the type honours it; errors get the prefix."""
    return send_one(request, cfg, transport, check, prefix, use_proxy=False, use_tls=use_tls)


def decode_json(response: Response, prefix: str) -> Any:
    """The JSON body of an API answer; an undecodable one is a permanent failure."""
    try:
        return json.loads(response.body or b"null")
    except ValueError as err:
        raise DeliveryError(
            f"{prefix}unable to decode the response body: {err}", retryable=False, status=response.status
        ) from None


StatusFields = Callable[[dict], "tuple[Any, Any, Any] | None"]


def latest_is_identical(statuses: object, new: Status, fields: StatusFields) -> bool:
    """GitHub's duplicate rule (§5.7 step 4), also Gitea's: the first item with our context decides.

    ``fields`` reads (context, state, description) from an item, or None to skip it.
    """
    if not isinstance(statuses, list):
        return False
    for item in statuses:
        read = fields(item) if isinstance(item, dict) else None
        if read is None:
            continue
        context, state, desc = read
        if context == new.context:
            return state == new.state and desc == new.description
    return False


def duplicate(reason: str = "an identical commit status already exists") -> Skip:
    """Returned (to raise) when the latest matching status already says the same thing."""
    return Skip(reason)


def permanent(message: str) -> DeliveryError:
    """A failure no retry can fix (an API answer without the field we need)."""
    return DeliveryError(message, retryable=False)
