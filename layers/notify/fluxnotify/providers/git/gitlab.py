"""`gitlab`: GitLab (gitlab.com or self-hosted) commit statuses (spec §5.8).

Read before write: list the commit's statuses with our name and only POST when none
of them already has the same sha, state, description and name.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.git import gitstatus
from fluxnotify.providers.git.gitstatus import Status, segment
from fluxnotify.transport.http import Request, Transport

STATES = {"info": "success", "error": "failed"}
LIST_PREFIX = "unable to list commit status: "
CREATE_PREFIX = "unable to set commit status: "


@dataclass(frozen=True)
class Project:
    base: str  # '<host>/api/v4/'
    project_id: str  # the escaped project path ('foo%2Fbar') or numeric id
    token: str

    def url(self, *path: str) -> str:
        return f"{self.base}projects/{self.project_id}/" + "/".join(path)


def validate(cfg: ProviderConfig) -> None:
    project(cfg)


def project(cfg: ProviderConfig) -> Project:
    """Construction checks in the reference's order (token, address, commit status)."""
    target = client(cfg)
    gitstatus.require_commit_status(cfg)
    return target


def client(cfg: ProviderConfig) -> Project:
    """The GitLab client of both gitlab types: token (else password), then the address."""
    token = gitstatus.api_token(cfg)
    if not token:
        raise ConfigError("gitlab token cannot be empty")
    host, repo_id = gitstatus.parse_git_address(cfg.address)
    return Project(f"{host}/api/v4/", project_path(repo_id), token)


def project_path(repo_id: str) -> str:
    """go-gitlab's escaping: path-escaped, '/' → %2F and '.' → %2E (foo/bar.baz → foo%2Fbar%2Ebaz)."""
    return segment(repo_id).replace(".", "%2E")


def headers(token: str, *, body: bool) -> dict[str, str]:
    result = {"PRIVATE-TOKEN": token, "Accept": "application/json"}
    if body:
        result["Content-Type"] = "application/json"
    return result


def status(event: Event, cfg: ProviderConfig) -> Status:
    return gitstatus.commit_status(event, cfg, STATES, "gitlab")


def list_request(target: Project, new: Status) -> Request:
    query = urllib.parse.urlencode({"name": new.context})
    url = target.url("repository", "commits", new.hash, "statuses") + "?" + query
    return Request("GET", url, headers(target.token, body=False))


def create_request(target: Project, new: Status) -> Request:
    payload = {"state": new.state, "name": new.context, "description": new.description}
    body = gitstatus.json_body(payload)
    return Request("POST", target.url("statuses", new.hash), headers(target.token, body=True), body)


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    """Only the write: what the POST would be if no identical status exists."""
    return [create_request(project(cfg), status(event, cfg))]


def is_duplicate(statuses: object, new: Status) -> bool:
    """§5.8 step 3: any returned status equal on sha, status, description and name."""
    if not isinstance(statuses, list):
        return False
    wanted = (new.hash, new.state, new.description, new.context)
    return any(
        isinstance(item, dict)
        and (item.get("sha"), item.get("status"), item.get("description"), item.get("name")) == wanted
        for item in statuses
    )


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    target = project(cfg)
    new = status(event, cfg)
    listed = gitstatus.call(transport, list_request(target, new), cfg, prefix=LIST_PREFIX)
    if is_duplicate(gitstatus.decode_json(listed, LIST_PREFIX), new):
        raise gitstatus.duplicate()
    gitstatus.call(transport, create_request(target, new), cfg, prefix=CREATE_PREFIX)
