"""`bitbucket`: Bitbucket Cloud build statuses (spec §5.9).

The API base is always Bitbucket Cloud's (the address only names the repository);
like the reference SDK, env ``BITBUCKET_API_BASE_URL`` overrides it. The status key
is the SHA-1 of the CommitStatus (Bitbucket keys are limited to 40 characters).
Read before write: GET the status with our key and only POST when its state or
description differs (404 = no status yet).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.git import gitstatus
from fluxnotify.providers.git.gitstatus import Status, segment
from fluxnotify.transport.http import Request, Response, Transport, status_error

DEFAULT_API = "https://api.bitbucket.org/2.0"
STATES = {"info": "SUCCESSFUL", "error": "FAILED"}
SDK_SUCCESS = (200, 201, 202, 204)  # go-bitbucket's notion of success
GET_PREFIX = "could not get commit status: "
CREATE_PREFIX = "could not create commit status: "


@dataclass(frozen=True)
class Repository:
    base: str
    owner: str
    repo: str
    authorization: str

    def url(self, *path: str) -> str:
        return f"{self.base}/repositories/{segment(self.owner)}/{segment(self.repo)}/" + "/".join(
            segment(part) for part in path
        )


def api_base() -> str:
    return (os.environ.get("BITBUCKET_API_BASE_URL") or DEFAULT_API).rstrip("/")


def validate(cfg: ProviderConfig) -> None:
    repository(cfg)


def repository(cfg: ProviderConfig) -> Repository:
    """Construction checks in the reference's order; the token itself is never quoted."""
    if not cfg.token:
        raise ConfigError("bitbucket token cannot be empty")
    gitstatus.require_commit_status(cfg)
    _host, repo_id = gitstatus.parse_git_address(cfg.address)  # the host is ignored (quirk §7.6)
    credentials = cfg.token.split(":")
    if len(credentials) != 2:
        raise ConfigError("invalid token format, expected to be <user>:<password>")
    owner, repo = gitstatus.split_repository(repo_id, 2, f"invalid repository id {_go_quote(repo_id)}")
    basic = base64.b64encode(cfg.token.encode("utf-8")).decode("ascii")
    return Repository(api_base(), owner, repo, f"Basic {basic}")


def _go_quote(text: str) -> str:
    from fluxnotify.providers.base import go_quote

    return go_quote(text)


def status_key(commit_status: str) -> str:
    return hashlib.sha1(commit_status.encode("utf-8")).hexdigest()


def status(event: Event, cfg: ProviderConfig) -> Status:
    return gitstatus.commit_status(event, cfg, STATES, "bitbucket")


def get_request(repo: Repository, new: Status) -> Request:
    url = repo.url("commit", new.hash, "statuses", "build", status_key(new.context))
    return Request("GET", url, {"Authorization": repo.authorization, "Accept": "application/json"})


def create_request(repo: Repository, new: Status, event: Event) -> Request:
    payload = {
        "key": status_key(new.context),
        "url": "https://bitbucket.org",
        "state": new.state,
        "name": gitstatus.object_name(event),
        "description": new.description,
    }
    headers = {
        "Authorization": repo.authorization,
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    return Request(
        "POST", repo.url("commit", new.hash, "statuses", "build"), headers, gitstatus.json_body(payload)
    )


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    """Only the write: what the POST would be if no identical status exists."""
    return [create_request(repository(cfg), status(event, cfg), event)]


def check_get(response: Response) -> None:
    if response.status not in SDK_SUCCESS and response.status != 404:
        raise status_error(response)


def check_create(response: Response) -> None:
    if response.status not in SDK_SUCCESS:
        raise status_error(response)


def is_duplicate(existing: object, new: Status) -> bool:
    """§5.9 step 4: same state and description (the name is not compared)."""
    if not isinstance(existing, dict):
        return False
    return existing.get("state") == new.state and existing.get("description") == new.description


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    repo = repository(cfg)
    new = status(event, cfg)
    answer = gitstatus.call(transport, get_request(repo, new), cfg, prefix=GET_PREFIX, check=check_get)
    if answer.status != 404 and answer.body.strip():
        if is_duplicate(gitstatus.decode_json(answer, GET_PREFIX), new):
            raise gitstatus.duplicate()
    gitstatus.call(transport, create_request(repo, new, event), cfg, prefix=CREATE_PREFIX, check=check_create)
