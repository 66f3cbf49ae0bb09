"""`gitlabmergerequestcomment`: one status note per object on a GitLab merge request (spec §5.23).

The merge request iid is the ``change_request`` metadata value. Delivery reads the
identity (``GET user`` → ``username``), lists the first 100 notes oldest first, and PUTs
the first one by that user carrying our marker, else POSTs a new one. The client
(token, project path, headers, TLS without proxy) is the `gitlab` type's.
`render` shows the POST.
"""

from __future__ import annotations

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.git import changerequest, gitlab, gitstatus
from fluxnotify.providers.git.changerequest import MR_PREFIX, USER_PREFIX
from fluxnotify.providers.git.gitlab import Project
from fluxnotify.transport.http import Request, Transport

LIST_PREFIX = "failed to list merge request notes: "
UPDATE_PREFIX = "failed to update merge request note: "
CREATE_PREFIX = "failed to create merge request note: "


def validate(cfg: ProviderConfig) -> None:
    project(cfg)


def project(cfg: ProviderConfig) -> Project:
    changerequest.require_uid(cfg)
    return gitlab.client(cfg)


def notes_url(target: Project, iid: int, *rest: str) -> str:
    return target.url("merge_requests", str(iid), "notes", *rest)


def note_request(method: str, url: str, target: Project, text: str) -> Request:
    body = gitstatus.json_body({"body": text})
    return Request(method, url, gitlab.headers(target.token, body=True), body)


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    """Only the write, as a first event makes it (the note does not exist yet)."""
    target = project(cfg)
    iid = changerequest.number(event)
    return [note_request("POST", notes_url(target, iid), target, changerequest.body(event, cfg, MR_PREFIX))]


def username(target: Project, cfg: ProviderConfig, transport: Transport) -> str:
    request = Request("GET", target.base + "user", gitlab.headers(target.token, body=False))
    return changerequest.identity(gitstatus.call(transport, request, cfg, prefix=USER_PREFIX), "username")


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    target = project(cfg)
    iid = changerequest.number(event)
    text = changerequest.body(event, cfg, MR_PREFIX)
    user = username(target, cfg, transport)
    query = "?order_by=created_at&per_page=100&sort=asc"
    listing = Request("GET", notes_url(target, iid) + query, gitlab.headers(target.token, body=False))
    notes = gitstatus.decode_json(gitstatus.call(transport, listing, cfg, prefix=LIST_PREFIX), LIST_PREFIX)
    marker = changerequest.marker(event, cfg, MR_PREFIX)
    found = changerequest.find_comment(notes, user, marker, ("author", "username"))
    if found is None:
        request, prefix = note_request("POST", notes_url(target, iid), target, text), CREATE_PREFIX
    else:
        request, prefix = note_request("PUT", notes_url(target, iid, str(found)), target, text), UPDATE_PREFIX
    gitstatus.call(transport, request, cfg, prefix=prefix)
