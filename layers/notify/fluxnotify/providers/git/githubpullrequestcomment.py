"""`githubpullrequestcomment`: one status comment per object on a GitHub pull request (spec §5.22).

The pull request is the ``change_request`` metadata value. Delivery reads the identity
(``GET user`` → ``login`` with a token; ``<app-slug>[bot]`` with a GitHub App, the slug
from ``GET app``), lists the first 100 comments oldest first, and PATCHes the first one
by that identity carrying our marker, else POSTs a new one. `render` shows the POST.
"""

from __future__ import annotations

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.git import changerequest, githubapi, gitstatus
from fluxnotify.providers.git.changerequest import (
    PR_CREATE_PREFIX,
    PR_LIST_PREFIX,
    PR_PREFIX,
    PR_UPDATE_PREFIX,
    USER_PREFIX,
)
from fluxnotify.providers.git.githubapi import Repository
from fluxnotify.transport.http import Request, Transport


def validate(cfg: ProviderConfig) -> None:
    repository(cfg)


def repository(cfg: ProviderConfig) -> Repository:
    changerequest.require_uid(cfg)
    return githubapi.repository(cfg)


def create_request(repo: Repository, number: int, text: str, token: str) -> Request:
    url = repo.repo_url("issues", str(number), "comments")
    return githubapi.json_request("POST", url, {"body": text}, token)


def update_request(repo: Repository, comment_id: int, text: str, token: str) -> Request:
    url = repo.repo_url("issues", "comments", str(comment_id))
    return githubapi.json_request("PATCH", url, {"body": text}, token)


def list_request(repo: Repository, number: int, token: str) -> Request:
    url = repo.repo_url("issues", str(number), "comments") + "?direction=asc&per_page=100&sort=created"
    return Request("GET", url, githubapi.headers(token, body=False))


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    """Only the write, as a first event makes it (the comment does not exist yet)."""
    repo = repository(cfg)
    number = changerequest.number(event)
    text = changerequest.body(event, cfg, PR_PREFIX)
    return [create_request(repo, number, text, githubapi.display_token(cfg))]


def identity(cfg: ProviderConfig, repo: Repository, token: str, transport: Transport) -> str:
    if not gitstatus.api_token(cfg):
        return githubapi.app_slug(cfg, transport) + "[bot]"
    request = Request("GET", repo.url("user"), githubapi.headers(token, body=False))
    return changerequest.identity(githubapi.call(transport, request, cfg, repo, USER_PREFIX), "login")


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    repo = repository(cfg)
    number = changerequest.number(event)
    text = changerequest.body(event, cfg, PR_PREFIX)
    token = githubapi.token(cfg, transport)
    login = identity(cfg, repo, token, transport)
    listed = githubapi.call(transport, list_request(repo, number, token), cfg, repo, PR_LIST_PREFIX)
    comments = gitstatus.decode_json(listed, PR_LIST_PREFIX)
    marker = changerequest.marker(event, cfg, PR_PREFIX)
    found = changerequest.find_comment(comments, login, marker, ("user", "login"))
    if found is None:
        githubapi.call(transport, create_request(repo, number, text, token), cfg, repo, PR_CREATE_PREFIX)
    else:
        githubapi.call(transport, update_request(repo, found, text, token), cfg, repo, PR_UPDATE_PREFIX)
