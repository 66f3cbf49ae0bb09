"""`gitea`: Gitea commit statuses (spec §5.24).

Unlike the other commit-status types, reason ``Progressing`` posts ``pending``. Delivery
probes the server version (as the Gitea SDK does when its client is created), lists the
commit's latest statuses and only POSTs when the newest one with our context differs.
"""

from __future__ import annotations

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import ProviderError
from fluxnotify.providers.git import giteaapi, gitstatus
from fluxnotify.providers.git.giteaapi import Repository
from fluxnotify.providers.git.gitstatus import PROGRESSING, Status
from fluxnotify.transport.http import Request, Transport

STATES = {"info": "success", "error": "failure"}
LIST_PREFIX = "could not list commit statuses: "
CREATE_PREFIX = "could not create commit status: "


def validate(cfg: ProviderConfig) -> None:
    repository(cfg)


def repository(cfg: ProviderConfig) -> Repository:
    """Construction checks in the reference's order: commit status, then the client's."""
    gitstatus.require_commit_status(cfg)
    return giteaapi.repository(cfg)


def status(event: Event, cfg: ProviderConfig) -> Status:
    """Revision first (no Progressing skip), then the state: Progressing → pending."""
    commit = gitstatus.parse_revision(gitstatus.get_revision(event))
    state = "pending" if event.reason == PROGRESSING else STATES.get(event.severity)
    if state is None:
        raise ProviderError("can't convert to gitea state")
    return Status(commit, state, gitstatus.description(event.reason), cfg.commit_status)


def list_request(repo: Repository, commit: str) -> Request:
    return giteaapi.get(repo, repo.repo_url("commits", commit, "statuses") + "?limit=50&page=1")


def create_request(repo: Repository, new: Status) -> Request:
    payload = {"state": new.state, "target_url": "", "description": new.description, "context": new.context}
    return giteaapi.json_request("POST", repo.repo_url("statuses", new.hash), repo, payload)


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    """Only the write: what the POST would be if no identical status exists."""
    return [create_request(repository(cfg), status(event, cfg))]


def status_fields(item: dict) -> tuple | None:
    """(context, state, description); items with an empty one are skipped.

    Gitea names the state ``status`` in its answers (``state`` only when creating);
    ``state`` is read as well, for servers that echo the create field.
    """
    fields = (item.get("context"), item.get("status") or item.get("state"), item.get("description"))
    return None if not all(fields) else fields


def is_duplicate(statuses: object, new: Status) -> bool:
    return gitstatus.latest_is_identical(statuses, new, status_fields)


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    repo = repository(cfg)
    new = status(event, cfg)
    giteaapi.probe(repo, cfg, transport)
    listed = giteaapi.call(transport, list_request(repo, new.hash), cfg, LIST_PREFIX)
    if is_duplicate(gitstatus.decode_json(listed, LIST_PREFIX), new):
        raise gitstatus.duplicate()
    giteaapi.call(transport, create_request(repo, new), cfg, CREATE_PREFIX)
