"""`giteapullrequestcomment`: one status comment per object on a Gitea pull request (spec §5.25).

The pull request index is the ``change_request`` metadata value. Delivery probes the
server version, reads the identity (``GET /api/v1/user`` → ``login``), lists the first
100 comments, and PATCHes the first one by that user carrying our marker, else POSTs a
new one. The client is the `gitea` type's. `render` shows the POST.
"""

from __future__ import annotations

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.git import changerequest, giteaapi, gitstatus
from fluxnotify.providers.git.changerequest import (
    PR_CREATE_PREFIX,
    PR_LIST_PREFIX,
    PR_PREFIX,
    PR_UPDATE_PREFIX,
    USER_PREFIX,
)
from fluxnotify.providers.git.giteaapi import Repository
from fluxnotify.transport.http import Request, Transport


def validate(cfg: ProviderConfig) -> None:
    repository(cfg)


def repository(cfg: ProviderConfig) -> Repository:
    changerequest.require_uid(cfg)
    return giteaapi.repository(cfg)


def create_request(repo: Repository, number: int, text: str) -> Request:
    return giteaapi.json_request(
        "POST", repo.repo_url("issues", str(number), "comments"), repo, {"body": text}
    )


def update_request(repo: Repository, comment_id: int, text: str) -> Request:
    url = repo.repo_url("issues", "comments", str(comment_id))
    return giteaapi.json_request("PATCH", url, repo, {"body": text})


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    """Only the write, as a first event makes it (the comment does not exist yet)."""
    repo = repository(cfg)
    return [create_request(repo, changerequest.number(event), changerequest.body(event, cfg, PR_PREFIX))]


def login(repo: Repository, cfg: ProviderConfig, transport: Transport) -> str:
    request = giteaapi.get(repo, repo.url("user"))
    return changerequest.identity(giteaapi.call(transport, request, cfg, USER_PREFIX), "login")


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    repo = repository(cfg)
    number = changerequest.number(event)
    text = changerequest.body(event, cfg, PR_PREFIX)
    giteaapi.probe(repo, cfg, transport)
    identity = login(repo, cfg, transport)
    listing = giteaapi.get(repo, repo.repo_url("issues", str(number), "comments") + "?limit=100&page=1")
    comments = gitstatus.decode_json(giteaapi.call(transport, listing, cfg, PR_LIST_PREFIX), PR_LIST_PREFIX)
    marker = changerequest.marker(event, cfg, PR_PREFIX)
    found = changerequest.find_comment(comments, identity, marker, ("user", "login"))
    if found is None:
        giteaapi.call(transport, create_request(repo, number, text), cfg, PR_CREATE_PREFIX)
    else:
        giteaapi.call(transport, update_request(repo, found, text), cfg, PR_UPDATE_PREFIX)
