"""Helpers shared by the pull/merge request comment types (spec §5.0 "Change-request comment").

githubpullrequestcomment, gitlabmergerequestcomment and giteapullrequestcomment all keep
one comment per (Provider, involved object) on the change request named by the
``change_request`` metadata key. The comment is recognised by an HTML-comment marker
carrying ``<providerUID>/<kind>/<namespace>/<name>`` and by its author (the identity of
the token); it is created once and updated on every later event.
"""

from __future__ import annotations

import re

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import ProviderError, go_quote
from fluxnotify.providers.git import gitstatus
from fluxnotify.providers.markdown import CHANGE_REQUEST_KEY, flux_status_markdown
from fluxnotify.transport.http import Response

PR_PREFIX = "flux-pr-comment-key"  # GitHub, Gitea
MR_PREFIX = "flux-mr-comment-key"  # GitLab
USER_PREFIX = "failed to get authenticated user info: "
# The pull request types (GitHub, Gitea) word their failures alike.
PR_LIST_PREFIX = "failed to list pull request comments: "
PR_UPDATE_PREFIX = "failed to update pull request comment: "
PR_CREATE_PREFIX = "failed to create pull request comment: "
_INTEGER = re.compile(r"[+-]?[0-9]+")
_INT64 = 2**63


def require_uid(cfg: ProviderConfig) -> None:
    if not cfg.uid:
        raise ConfigError("provider UID cannot be empty")


def number(event: Event) -> int:
    """The change request number: ``change_request`` as a base-10 integer (Go strconv rules)."""
    if CHANGE_REQUEST_KEY not in event.metadata:
        raise ProviderError(f'missing "{CHANGE_REQUEST_KEY}" metadata key')
    text = event.metadata[CHANGE_REQUEST_KEY]
    problem = None
    if not _INTEGER.fullmatch(text):
        problem = "invalid syntax"
    elif not -_INT64 <= int(text) < _INT64:
        problem = "value out of range"
    if problem is not None:
        raise ProviderError(
            f'invalid "{CHANGE_REQUEST_KEY}" metadata value {go_quote(text)}: '
            f"strconv.Atoi: parsing {go_quote(text)}: {problem}"
        )
    return int(text)


def comment_key(event: Event, cfg: ProviderConfig) -> str:
    ref = event.involved_object
    return f"{cfg.uid}/{ref.kind}/{ref.namespace}/{ref.name}"


def marker(event: Event, cfg: ProviderConfig, prefix: str) -> str:
    return f"<!-- {prefix}:{comment_key(event, cfg)} -->"


def body(event: Event, cfg: ProviderConfig, prefix: str) -> str:
    return marker(event, cfg, prefix) + "\n\n" + flux_status_markdown(event)


def find_comment(comments: object, identity: str, wanted_marker: str, author: tuple[str, str]) -> int | None:
    """The id of the first comment by ``identity`` whose body carries the marker, or None.

    ``author`` names where a comment keeps its author: ("user", "login") on GitHub and
    Gitea, ("author", "username") on GitLab.
    """
    if not isinstance(comments, list):
        return None
    for comment in comments:
        if not isinstance(comment, dict):
            continue
        user = comment.get(author[0])
        text = comment.get("body")
        if not (isinstance(user, dict) and user.get(author[1]) == identity):
            continue
        comment_id = comment.get("id")
        if isinstance(text, str) and wanted_marker in text and type(comment_id) is int:
            return comment_id
    return None


def identity(response: Response, field: str) -> str:
    """The authenticated user's name from a ``GET user`` answer (``login`` or ``username``)."""
    answer = gitstatus.decode_json(response, USER_PREFIX)
    name = answer.get(field) if isinstance(answer, dict) else None
    if not isinstance(name, str) or not name:
        raise gitstatus.permanent(f"{USER_PREFIX}the response carries no {field}")
    return name
