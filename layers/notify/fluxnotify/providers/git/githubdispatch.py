"""`githubdispatch`: a GitHub `repository_dispatch` event per Flux event (spec §5.21).

The client is the one of the `github` type (token or GitHub App, ``owner/repo``
address, enterprise base URL) without a commit status. ``event_type`` is
``<Kind>/<name>.<namespace>``; ``client_payload`` is the event itself, byte for byte
the Go-JSON the reference embeds (so ``<``, ``>``, ``&`` stay escaped inside it, while
the outer body follows go-github's encoder: no HTML escaping, a trailing newline).
"""

from __future__ import annotations

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.git import githubapi
from fluxnotify.providers.git.githubapi import Repository
from fluxnotify.transport.http import Request, Transport

PREFIX = "could not send github repository dispatch webhook: "


def validate(cfg: ProviderConfig) -> None:
    githubapi.repository(cfg)


def event_type(event: Event) -> str:
    ref = event.involved_object
    return f"{ref.kind}/{ref.name}.{ref.namespace}"


def dispatch_request(repo: Repository, event: Event, token: str) -> Request:
    body = (
        '{"event_type":' + gojson.quote(event_type(event), escape_html=False)
        + ',"client_payload":' + event.go_json() + "}\n"
    )  # fmt: skip
    return Request("POST", repo.repo_url("dispatches"), githubapi.headers(token, body=True), body.encode())


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    return [dispatch_request(githubapi.repository(cfg), event, githubapi.display_token(cfg))]


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    repo = githubapi.repository(cfg)
    request = dispatch_request(repo, event, githubapi.token(cfg, transport))
    githubapi.call(transport, request, cfg, repo, PREFIX)
