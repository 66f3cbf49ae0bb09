"""`bitbucketserver`: Bitbucket Server / Data Center build statuses (spec §5.26).

The address must be the repository's HTTP(S) clone URL
(``https://host[:port][/context]/scm/<project>/<repo>.git``); the API lives under the
same context path. Read before write: GET the build status with our key and only POST
when its key, state, description and name are not all the same already. Errors carry
the status code and its reason phrase only, never the response body.
"""

from __future__ import annotations

import base64
import hashlib
import http
import json
import urllib.parse
from dataclasses import dataclass

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import ProviderError, Skip, go_quote, url_error
from fluxnotify.providers.git import gitstatus
from fluxnotify.providers.git.gitstatus import PROGRESSING, Status, segment
from fluxnotify.transport.http import DeliveryError, Request, Response, Transport, is_retryable_status

STATES = {"info": "SUCCESSFUL", "error": "FAILED"}
ADDRESS_PREFIX = "could not parse git address: "
GET_PREFIX = "could not get existing commit status: "
POST_PREFIX = "could not post build status: "


@dataclass(frozen=True)
class Repository:
    api: str  # '<scheme>://<host><context>/rest/api/latest/projects/<key>/repos/<slug>/commits'
    authorization: str

    def builds_url(self, commit: str) -> str:
        return f"{self.api}/{segment(commit)}/builds"


def validate(cfg: ProviderConfig) -> None:
    repository(cfg)


def repository(cfg: ProviderConfig) -> Repository:
    """Construction checks in the reference's order: address, commit status, credentials."""
    api = api_path(cfg.address)
    gitstatus.require_commit_status(cfg)
    if cfg.token:
        authorization = f"Bearer {cfg.token}"
    elif cfg.username and cfg.password:
        pair = f"{cfg.username}:{cfg.password}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    else:
        raise ConfigError("invalid credentials, expected to be one of username/password or API Token")
    return Repository(api, authorization)


def api_path(address: str) -> str:
    """The REST path of the commits of the repository a clone URL names."""
    error = url_error(address) if address else None
    if error is not None and not error.endswith("invalid URI for request"):  # url.Parse allows relative URLs
        raise ConfigError(ADDRESS_PREFIX + error)
    parts = urllib.parse.urlsplit(address)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(
            f"{ADDRESS_PREFIX}unsupported scheme type in address: {scheme}. Must be http or https"
        )
    path = urllib.parse.unquote(parts.path)
    path = path.removesuffix(".git")
    context, found, repo_id = path.rpartition("/scm/")
    if not found:
        raise ConfigError(ADDRESS_PREFIX + "supplied provider address is not http(s) git clone url")
    project, repo = gitstatus.split_repository(
        repo_id, 2, f"{ADDRESS_PREFIX}invalid repository id {go_quote(repo_id)}"
    )
    hostport = parts.netloc.rpartition("@")[2]
    context = "/".join(segment(piece) for piece in context.split("/"))
    return f"{scheme}://{hostport}{context}/rest/api/latest/projects/{segment(project)}/repos/{segment(repo)}/commits"


def status_key(commit_status: str) -> str:
    return hashlib.sha1(commit_status.encode("utf-8")).hexdigest()


def status(event: Event, cfg: ProviderConfig) -> Status:
    """Common rules with this type's error texts; raises Skip or ProviderError."""
    if event.reason == PROGRESSING:
        raise Skip(PROGRESSING)
    try:
        commit = gitstatus.parse_revision(gitstatus.get_revision(event))
    except ProviderError as err:
        raise ProviderError(f"could not parse revision: {err}") from None
    state = STATES.get(event.severity)
    if state is None:
        raise ProviderError(
            "couldn't convert to bitbucket server state: "
            "bitbucket server state generated on info or error events only"
        )
    return Status(commit, state, gitstatus.description(event.reason), cfg.commit_status)


def build_status(event: Event, new: Status, address: str) -> dict[str, str]:
    """The POST body, keys in the reference's order; empty description/name omitted."""
    name = f"{gitstatus.object_name(event)} [{new.description}]"
    payload = {"description": new.description, "key": status_key(new.context), "name": name,
               "state": new.state, "url": address}  # fmt: skip
    return {k: v for k, v in payload.items() if v or k in ("key", "state", "url")}


def headers(repo: Repository, *, body: bool) -> dict[str, str]:
    result = {
        "Authorization": repo.authorization,
        "X-Atlassian-Token": "no-check",
        "X-Requested-With": "XMLHttpRequest",
    }
    if body:
        result["Content-Type"] = "application/json"
    return result


def get_request(repo: Repository, new: Status) -> Request:
    query = urllib.parse.urlencode({"key": status_key(new.context)})
    return Request("GET", f"{repo.builds_url(new.hash)}?{query}", headers(repo, body=False))


def post_request(repo: Repository, event: Event, new: Status, address: str) -> Request:
    body = gitstatus.json_body(build_status(event, new, address), newline=True)
    return Request("POST", repo.builds_url(new.hash), headers(repo, body=True), body)


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    """Only the write: what the POST would be if no identical status exists."""
    return [post_request(repository(cfg), event, status(event, cfg), cfg.address)]


def _status_failure(response: Response, text: str) -> DeliveryError:
    phrase = _phrase(response.status)
    return DeliveryError(
        f"{text}: {response.status} - {phrase}",
        retryable=is_retryable_status(response.status),
        status=response.status,
    )


def _phrase(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return ""


def check_get(response: Response) -> None:
    if response.status >= 400 and response.status != 404:
        raise _status_failure(response, "failed api call to check duplicate commit status")


def check_post(response: Response) -> None:
    if response.status >= 400:
        raise _status_failure(response, "could not post build commit status")


def is_duplicate(response: Response, expected: dict[str, str]) -> bool:
    """Only a 200 answer is read: equal key, state, description and name → duplicate."""
    if response.status != 200:
        return False
    existing = _decode(response.body)
    return isinstance(existing, dict) and all(
        existing.get(k, "") == expected.get(k, "") for k in ("key", "state", "description", "name")
    )


def _decode(body: bytes) -> object:
    """The existing build status; an empty or broken body is an error, as in the reference."""
    problem = "unexpected end of JSON input" if not body.strip() else ""
    if not problem:
        try:
            existing = json.loads(body)
        except ValueError as err:
            problem = str(err)
        else:
            if existing is None or isinstance(existing, dict):
                return existing
            problem = f"json: cannot unmarshal {type(existing).__name__} into a build status"
    raise gitstatus.permanent(
        f"{GET_PREFIX}could not unmarshal json response body for duplicate commit status: {problem}"
    )


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    repo = repository(cfg)
    new = status(event, cfg)
    answer = gitstatus.call(transport, get_request(repo, new), cfg, prefix=GET_PREFIX, check=check_get)
    if is_duplicate(answer, build_status(event, new, cfg.address)):
        raise gitstatus.duplicate()
    gitstatus.call(
        transport, post_request(repo, event, new, cfg.address), cfg, prefix=POST_PREFIX, check=check_post
    )
