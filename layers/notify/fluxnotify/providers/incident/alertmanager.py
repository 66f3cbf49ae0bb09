"""`alertmanager`: one firing alert per event to the Alertmanager v2 API (spec §5.19).

Auth (quirk §7.2): Basic when username and password are both set, else Bearer with the
token. Credentials embedded in the address (`https://user:pass@am/api/v2/alerts`) work as
with Go's HTTP client: they become a Basic header unless one of the above is set, and
are always stripped from the URL (urllib3 would not send them and errors must not show them).

With ``fluxnotify.io/resolve: "true"`` (delivery/stages/resolve.py) the labels of each error's
alert are kept, and the object's next non-error event posts those alerts again with
``endsAt`` = now instead of a new alert: Alertmanager marks them resolved
(docs/providers/alertmanager.md).
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from fluxnotify.config.options import ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import json_request, require_url
from fluxnotify.transport.http import Request

ZERO_TIME = "0001-01-01T00:00:00Z"

# Unicode MidLetter/MidNumLet characters: inside a word they do not break it (UAX #29),
# but two in a row do. The ASCII ones are those the spec names.
_MID = frozenset("'.:\u00b7\u0387\u05f4\u2018\u2019\u2024\u2027\ufe13\ufe52\ufe55\uff07\uff0e\uff1a")


def validate(cfg: ProviderConfig) -> None:
    require_url(cfg.address, "invalid Alertmanager URL {address}: '{error}'")


def title(text: str) -> str:
    """Go's cases.Title(language.Und): title-case each word, lower-case the rest of it.

    Mirrors golang.org/x/text/cases titleCaser.Transform: the first cased letter after a
    break is title-cased, later cased letters of the word lower-cased; letters, digits,
    `_` and marks never break; a single MidLetter character (`'`, `.`, `:`, `·`) does not
    break but two in a row do; anything else breaks.
    """
    out: list[str] = []
    mid_word = False
    previous_mid = False
    for char in text:
        is_mid = char in _MID
        if previous_mid and is_mid:
            mid_word = False
        if _is_cased(char):
            # str.title() of one char may expand (ß → Ss), as Go's title mapping does.
            out.append(char.lower() if mid_word else char.title())
            mid_word = True
        else:
            out.append(char)
            if not is_mid and _is_break(char):
                mid_word = False
        previous_mid = is_mid
    return "".join(out)


def _is_cased(char: str) -> bool:
    return unicodedata.category(char) in ("Lu", "Ll", "Lt") or char.lower() != char.upper()


def _is_break(char: str) -> bool:
    category = unicodedata.category(char)
    return not (char == "_" or category[0] in ("L", "N", "M"))


def alert(event: Event) -> dict:
    ref = event.involved_object
    metadata = dict(event.metadata)
    annotations = {"message": event.message}
    if "summary" in metadata:
        annotations["summary"] = metadata.pop("summary")
    labels = {
        **metadata,
        "alertname": f"Flux{ref.kind}{title(event.reason)}",
        "severity": event.severity,
        "reason": event.reason,
        "kind": ref.kind,
        "name": ref.name,
        "namespace": ref.namespace,
        "reportingcontroller": event.reporting_controller,
    }
    return {
        "status": "firing",
        "labels": gojson.go_sorted(labels),
        "annotations": gojson.go_sorted(annotations),
        # A missing timestamp is Go's zero time; Alertmanager then uses its own clock.
        "startsAt": event.timestamp_text() or ZERO_TIME,
        "endsAt": ZERO_TIME,
    }


def split_userinfo(address: str) -> tuple[str, str | None]:
    """(address without userinfo, 'user:password' decoded) — or the address and None."""
    parts = urllib.parse.urlsplit(address)
    if "@" not in parts.netloc:
        return address, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    bare = parts._replace(netloc=hostport).geturl()
    return bare, f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"


def _basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")


def auth_header(cfg: ProviderConfig, url_userinfo: str | None) -> dict[str, str]:
    if cfg.username and cfg.password:
        return {"Authorization": _basic(f"{cfg.username}:{cfg.password}")}
    if cfg.token:
        return {"Authorization": f"Bearer {cfg.token}"}
    if url_userinfo is not None:
        return {"Authorization": _basic(url_userinfo)}
    return {}


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    url, userinfo = split_userinfo(cfg.address)
    return [json_request(url, [alert(event)], auth_header(cfg, userinfo))]


def incident(event: Event, cfg: ProviderConfig) -> tuple[str, dict[str, Any]]:
    """What an error opens: its alert's labels (Alertmanager's identity of an alert) and start."""
    fired = alert(event)
    entry_id = hashlib.sha256(gojson.dumps(fired["labels"]).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return entry_id, {"labels": fired["labels"], "startsAt": fired["startsAt"]}


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_resolve(event: Event, cfg: ProviderConfig, opened: list[dict[str, Any]]) -> list[Request]:
    """The alerts the object's errors opened, again, ended now: resolved in Alertmanager."""
    ends = now_text()
    alerts = [{
        "status": "resolved",
        "labels": entry["labels"],
        "annotations": {"message": event.message},
        "startsAt": entry.get("startsAt") or ZERO_TIME,
        "endsAt": max(ends, entry.get("startsAt") or ends),  # RFC 3339 UTC text sorts by time
    } for entry in opened if isinstance(entry.get("labels"), dict)]
    if not alerts:
        return []
    url, userinfo = split_userinfo(cfg.address)
    return [json_request(url, alerts, auth_header(cfg, userinfo))]
