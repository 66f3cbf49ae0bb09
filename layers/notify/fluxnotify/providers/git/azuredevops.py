"""`azuredevops`: Azure DevOps (Services or Server) commit statuses (spec §5.10).

Calls the Git REST API (version 6.0) directly instead of discovering routes first.
Read before write: list the commit's statuses; the first complete one with our
context name and genre decides whether the new status would be a duplicate.

Workload identity has no meaning here (DESIGN.md "Identity"): a PAT is required.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import go_quote
from fluxnotify.providers.git import gitstatus
from fluxnotify.providers.git.gitstatus import Status, segment
from fluxnotify.transport.http import Request, Transport

STATES = {"info": "succeeded", "error": "error"}
GENRE = "fluxcd"
API_VERSION = "6.0"
LIST_PREFIX = "could not list commit statuses: "
CREATE_PREFIX = "could not create commit status: "
NO_TOKEN = (
    "azure devops token cannot be empty: workload identity is not supported by fluxnotify, "
    "store a personal access token under the 'token' key of the Provider's secretRef Secret"
)


@dataclass(frozen=True)
class Repository:
    org_url: str
    project: str
    repo: str
    authorization: str

    def statuses_url(self, commit: str) -> str:
        return (
            f"{self.org_url}/{segment(self.project)}/_apis/git/repositories/"
            f"{segment(self.repo)}/commits/{segment(commit)}/statuses"
        )


def validate(cfg: ProviderConfig) -> None:
    repository(cfg)


def repository(cfg: ProviderConfig) -> Repository:
    """Construction checks in the reference's order (token, address, commit status, id)."""
    if not cfg.token:
        raise ConfigError(NO_TOKEN)
    host, repo_id = gitstatus.parse_git_address(cfg.address)
    gitstatus.require_commit_status(cfg)
    org, project, _git, repo = gitstatus.split_repository(
        repo_id, 4, f"invalid repository id {go_quote(repo_id)}"
    )
    org_url = f"{host}/{segment(org)}".lower().rstrip("/")
    basic = base64.b64encode((":" + cfg.token).encode("utf-8")).decode("ascii")
    return Repository(org_url, project, repo, f"Basic {basic}")


def headers(repo: Repository, *, body: bool) -> dict[str, str]:
    # The reference SDK sends the API version in Accept.
    result = {"Authorization": repo.authorization, "Accept": f"application/json;api-version={API_VERSION}"}
    if body:
        result["Content-Type"] = "application/json;charset=utf-8"
    return result


def genre(event: Event) -> str:
    """`fluxcd`, or `fluxcd:<summary>` when the metadata has a summary (presence decides)."""
    if "summary" in event.metadata:
        return f"{GENRE}:{event.metadata['summary']}"
    return GENRE


def status(event: Event, cfg: ProviderConfig) -> Status:
    return gitstatus.commit_status(event, cfg, STATES, "azure devops")


def list_request(repo: Repository, new: Status) -> Request:
    return Request("GET", repo.statuses_url(new.hash), headers(repo, body=False))


def create_request(repo: Repository, new: Status, event: Event) -> Request:
    payload = {
        "context": {"genre": genre(event), "name": new.context},
        "description": new.description,
        "state": new.state,
    }
    return Request(
        "POST", repo.statuses_url(new.hash), headers(repo, body=True), gitstatus.json_body(payload)
    )


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    """Only the write: what the POST would be if no identical status exists."""
    return [create_request(repository(cfg), status(event, cfg), event)]


def is_duplicate(answer: object, new: Status, new_genre: str) -> bool:
    """§5.10 step 3: the first complete item with our name and genre decides."""
    statuses = answer.get("value") if isinstance(answer, dict) else answer
    if not isinstance(statuses, list):
        return False
    for item in statuses:
        if not isinstance(item, dict) or not isinstance(item.get("context"), dict):
            continue
        name, item_genre = item["context"].get("name"), item["context"].get("genre")
        state, desc = item.get("state"), item.get("description")
        if None in (name, item_genre, state, desc):
            continue
        if name == new.context and item_genre == new_genre:
            return state == new.state and desc == new.description
    return False


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    repo = repository(cfg)
    new = status(event, cfg)
    listed = gitstatus.call(transport, list_request(repo, new), cfg, prefix=LIST_PREFIX)
    if is_duplicate(gitstatus.decode_json(listed, LIST_PREFIX), new, genre(event)):
        raise gitstatus.duplicate()
    gitstatus.call(transport, create_request(repo, new, event), cfg, prefix=CREATE_PREFIX)
