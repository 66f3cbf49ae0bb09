"""`github`: GitHub (and GitHub Enterprise) commit statuses (spec §5.7).

Read before write: list the latest statuses of the commit and only POST when the
newest one with the same context differs. The client (token or GitHub App, API base,
headers) is shared with the other GitHub types in ``githubapi``.
"""

from __future__ import annotations

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.git import githubapi, gitstatus
from fluxnotify.providers.git.githubapi import Repository
from fluxnotify.providers.git.gitstatus import Status
from fluxnotify.transport.http import Request, Transport

STATES = {"info": "success", "error": "failure"}
LIST_PREFIX = "could not list commit statuses: "
CREATE_PREFIX = "could not create commit status: "


def validate(cfg: ProviderConfig) -> None:
    repository(cfg)


def repository(cfg: ProviderConfig) -> Repository:
    """Construction checks in the reference's order: commit status, token, address."""
    gitstatus.require_commit_status(cfg)
    return githubapi.repository(cfg)


def status(event: Event, cfg: ProviderConfig) -> Status:
    return gitstatus.commit_status(event, cfg, STATES, "github")


def list_request(repo: Repository, commit: str, token: str) -> Request:
    url = repo.repo_url("commits", commit, "statuses") + "?per_page=50"
    return Request("GET", url, githubapi.headers(token, body=False))


def create_request(repo: Repository, new: Status, token: str) -> Request:
    payload = {"state": new.state, "description": new.description, "context": new.context}
    return githubapi.json_request("POST", repo.repo_url("statuses", new.hash), payload, token)


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    """Only the write: what the POST would be if no identical status exists."""
    repo = repository(cfg)
    return [create_request(repo, status(event, cfg), githubapi.display_token(cfg))]


def status_fields(item: dict) -> tuple | None:
    """(context, state, description); items lacking one of them are skipped."""
    fields = (item.get("context"), item.get("state"), item.get("description"))
    return None if None in fields else fields


def is_duplicate(statuses: object, new: Status) -> bool:
    return gitstatus.latest_is_identical(statuses, new, status_fields)


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    repo = repository(cfg)
    new = status(event, cfg)
    token = githubapi.token(cfg, transport)
    listed = githubapi.call(transport, list_request(repo, new.hash, token), cfg, repo, LIST_PREFIX)
    if is_duplicate(gitstatus.decode_json(listed, LIST_PREFIX), new):
        raise gitstatus.duplicate()
    githubapi.call(transport, create_request(repo, new, token), cfg, repo, CREATE_PREFIX)
