"""The Gitea API client shared by gitea and giteapullrequestcomment (spec §5.24, §5.25).

Construction checks the token (``token``, else ``password``), the ``owner/repo`` address
and the proxy; like the Gitea SDK, the client then probes the server version
(``GET /api/v1/version``) before its first real call. Every call honours the provider
proxy and TLS material.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.providers.base import go_quote, send_one
from fluxnotify.providers.git import gitstatus
from fluxnotify.providers.git.gitstatus import segment
from fluxnotify.transport.http import Request, Response, Transport, check_2xx

PROBE_PREFIX = "failed creating Gitea client: "


@dataclass(frozen=True)
class Repository:
    base: str  # '<host>/api/v1/'
    owner: str
    repo: str
    token: str

    def url(self, *path: str) -> str:
        return self.base + "/".join(segment(part) for part in path)

    def repo_url(self, *path: str) -> str:
        return self.url("repos", self.owner, self.repo, *path)


def repository(cfg: ProviderConfig) -> Repository:
    """Token, address, proxy: ConfigError with the reference's texts."""
    token = gitstatus.api_token(cfg)
    if not token:
        raise ConfigError("gitea token cannot be empty")
    host, repo_id = gitstatus.parse_git_address(cfg.address)
    owner, repo = gitstatus.split_repository(repo_id, 2, f"invalid repository id {go_quote(repo_id)}")
    if cfg.proxy and not _parses(cfg.proxy):
        raise ConfigError("invalid proxy URL")
    return Repository(f"{host}/api/v1/", owner, repo, token)


def _parses(url: str) -> bool:
    """Go's url.Parse is lenient: only control characters or a malformed port fail it."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return False
    try:
        urllib.parse.urlsplit(url).port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        return False
    return True


def headers(token: str, *, body: bool) -> dict[str, str]:
    result = {"Authorization": f"token {token}"}
    if body:
        result["Content-Type"] = "application/json"
    return result


def get(repo: Repository, url: str) -> Request:
    return Request("GET", url, headers(repo.token, body=False))


def json_request(method: str, url: str, repo: Repository, payload: object) -> Request:
    return Request(method, url, headers(repo.token, body=True), gitstatus.json_body(payload))


def call(transport: Transport, request: Request, cfg: ProviderConfig, prefix: str) -> Response:
    """One API call with the provider proxy and TLS; any 2xx is success (Gitea SDK)."""
    return send_one(request, cfg, transport, check_2xx, prefix)


def probe(repo: Repository, cfg: ProviderConfig, transport: Transport) -> str:
    """The server version, as the SDK reads it when the client is created."""
    answer = gitstatus.decode_json(
        call(transport, get(repo, repo.url("version")), cfg, PROBE_PREFIX), PROBE_PREFIX
    )
    version = answer.get("version") if isinstance(answer, dict) else None
    if not isinstance(version, str) or not version:
        raise gitstatus.permanent(PROBE_PREFIX + "the server did not report its version")
    return version
