"""`github`: GitHub (and GitHub Enterprise) commit statuses (spec §5.7).

Read before write: list the latest statuses of the commit and only POST when the
newest one with the same context differs. Authentication is a token (``token``,
else ``password``) or, when the Secret carries ``githubAppID``, a GitHub App
installation token fetched at delivery time (``github_app``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model.event import Event
from fluxnotify.providers.base import send_one
from fluxnotify.providers.git import gitstatus
from fluxnotify.providers.git.gitstatus import Status, segment
from fluxnotify.transport.http import DeliveryError, Request, Response, Transport, status_error

PUBLIC_HOST = "github.com"
PUBLIC_API = "https://api.github.com/"
STATES = {"info": "success", "error": "failure"}
LIST_PREFIX = "could not list commit statuses: "
CREATE_PREFIX = "could not create commit status: "
# Shown by `fluxnotify render` instead of a token that only exists at delivery time.
APP_TOKEN_PLACEHOLDER = "<github app installation token>"


@dataclass(frozen=True)
class Repository:
    base: str  # API base, ends with '/'
    owner: str
    repo: str
    enterprise: bool  # TLS material is applied only off github.com

    def url(self, *path: str) -> str:
        return self.base + "/".join(segment(part) for part in path)


def validate(cfg: ProviderConfig) -> None:
    repository(cfg)


def repository(cfg: ProviderConfig) -> Repository:
    """Construction checks in the reference's order; raise ConfigError with its texts."""
    gitstatus.require_commit_status(cfg)
    if not gitstatus.api_token(cfg):
        if "githubAppID" not in cfg.secret:
            raise ConfigError("github token or github app details must be specified")
        app_settings(cfg.secret)
    host, repo_id = gitstatus.parse_git_address(cfg.address)
    owner, repo = gitstatus.split_repository(repo_id, 2, f"invalid repository id: '{repo_id}'")
    hostport = urllib.parse.urlsplit(host).netloc
    if hostport == PUBLIC_HOST:
        return Repository(PUBLIC_API, owner, repo, enterprise=False)
    return Repository(enterprise_base(host, hostport), owner, repo, enterprise=True)


def enterprise_base(host: str, hostport: str) -> str:
    """go-github WithEnterpriseURLs: '<host>/api/v3/' unless the host is already an API host."""
    if hostport.startswith("api.") or ".api." in hostport:
        return host + "/"
    return host + "/api/v3/"


def headers(token: str, *, body: bool) -> dict[str, str]:
    result = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github.v3+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "go-github/v64.0.0",
    }
    if body:
        result["Content-Type"] = "application/json"
    return result


def status(event: Event, cfg: ProviderConfig) -> Status:
    return gitstatus.commit_status(event, cfg, STATES, "github")


def list_request(repo: Repository, commit: str, token: str) -> Request:
    url = repo.url("repos", repo.owner, repo.repo, "commits", commit, "statuses") + "?per_page=50"
    return Request("GET", url, headers(token, body=False))


def create_request(repo: Repository, new: Status, token: str) -> Request:
    payload = {"state": new.state, "description": new.description, "context": new.context}
    body = gitstatus.json_body(payload, escape_html=False, newline=True)
    url = repo.url("repos", repo.owner, repo.repo, "statuses", new.hash)
    return Request("POST", url, headers(token, body=True), body)


def encode(event: Event, cfg: ProviderConfig) -> list[Request]:
    """Only the write: what the POST would be if no identical status exists."""
    repo = repository(cfg)
    new = status(event, cfg)
    return [create_request(repo, new, gitstatus.api_token(cfg) or APP_TOKEN_PLACEHOLDER)]


def is_duplicate(statuses: object, new: Status) -> bool:
    """§5.7 step 4: the first complete item with our context decides."""
    if not isinstance(statuses, list):
        return False
    for item in statuses:
        if not isinstance(item, dict):
            continue
        context, state, desc = item.get("context"), item.get("state"), item.get("description")
        if context is None or state is None or desc is None:
            continue
        if context == new.context:
            return state == new.state and desc == new.description
    return False


def check_sdk(response: Response) -> None:
    """go-github: any 2xx is fine except 202 Accepted, which it reports as an error."""
    if response.status == 202:
        raise DeliveryError("job scheduled on GitHub side; try again later", retryable=False, status=202)
    if not 200 <= response.status <= 299:
        raise status_error(response)


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    repo = repository(cfg)
    new = status(event, cfg)
    token = gitstatus.api_token(cfg)
    if not token:
        token = app_installation_token(cfg, transport)
    use_tls = repo.enterprise
    listed = gitstatus.call(
        transport, list_request(repo, new.hash, token), cfg,
        prefix=LIST_PREFIX, use_tls=use_tls, check=check_sdk,
    )  # fmt: skip
    if is_duplicate(gitstatus.decode_json(listed, LIST_PREFIX), new):
        raise gitstatus.duplicate()
    gitstatus.call(
        transport, create_request(repo, new, token), cfg,
        prefix=CREATE_PREFIX, use_tls=use_tls, check=check_sdk,
    )  # fmt: skip


# --- GitHub App authentication (fluxcd/pkg/git/github) -------------------------------


@dataclass(frozen=True)
class AppSettings:
    app_id: int
    installation_id: int
    installation_owner: str
    private_key: str
    base: str  # API base for the token calls, ends with '/'


def _int(text: str | None) -> int:
    # The reference parses with strconv.ParseInt and ignores errors (0 = missing).
    try:
        return int((text or "").strip(), 10)
    except ValueError:
        return 0


def app_settings(secret: dict[str, str]) -> AppSettings:
    """The App keys of the Secret, checked in the reference's order (ConfigError texts)."""
    app_id = _int(secret.get("githubAppID"))
    if app_id == 0:
        raise ConfigError("app ID must be provided to use github app authentication")
    owner = secret.get("githubAppInstallationOwner", "")
    installation_id = _int(secret.get("githubAppInstallationID"))
    if not owner and installation_id == 0:
        raise ConfigError("app installation owner or ID must be provided to use github app authentication")
    if owner and installation_id:
        raise ConfigError(
            "only one of app installation owner or ID must be provided to use github app authentication"
        )
    key = secret.get("githubAppPrivateKey", "")
    if not key:
        raise ConfigError("private key must be provided to use github app authentication")
    _private_key(key)
    base = secret.get("githubAppBaseURL") or PUBLIC_API
    return AppSettings(app_id, installation_id, owner, key, base if base.endswith("/") else base + "/")


def _private_key(pem: str):
    try:  # only App users need it, so it is imported here
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:
        raise ConfigError(
            "github app authentication needs the Python package 'cryptography', which is not installed"
        ) from None
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"could not parse private key: {err}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("could not parse private key: key is not a valid RSA private key")
    return key


def app_jwt(settings: AppSettings, now: float | None = None) -> str:
    """RS256 JWT: issued 30 s in the past (clock drift), valid 2 minutes, issuer = App ID."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    issued = int(now if now is not None else time.time()) - 30
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {"iss": str(settings.app_id), "exp": issued + 120, "iat": issued}
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")))
        + "."
        + _b64(json.dumps(claims, separators=(",", ":")))
    )
    signature = _private_key(settings.private_key).sign(
        signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


_TOKENS: dict[str, tuple[str, float]] = {}
_TOKENS_LOCK = threading.Lock()
_TOKEN_MARGIN = 300.0  # renew five minutes before GitHub's expiry
APP_PREFIX = "failed to get github app installation token: "


def app_installation_token(cfg: ProviderConfig, transport: Transport) -> str:
    """An installation token, cached per App settings until shortly before it expires."""
    settings = app_settings(cfg.secret)
    cache_key = hashlib.sha256(repr(settings).encode()).hexdigest()
    with _TOKENS_LOCK:
        cached = _TOKENS.get(cache_key)
    if cached is not None and cached[1] > time.time():
        return cached[0]
    bearer = app_jwt(settings)
    installation = settings.installation_id or _find_installation(settings, bearer, cfg, transport)
    url = settings.base + f"app/installations/{installation}/access_tokens"
    response = _app_call(Request("POST", url, headers(bearer, body=False)), cfg, transport)
    answer = gitstatus.decode_json(response, APP_PREFIX)
    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise DeliveryError(APP_PREFIX + "the response carries no token", retryable=False)
    with _TOKENS_LOCK:
        _TOKENS[cache_key] = (token, _expiry(answer.get("expires_at")))
    return token


def _expiry(text: object) -> float:
    try:
        return datetime.fromisoformat(str(text)).timestamp() - _TOKEN_MARGIN
    except ValueError:
        return time.time()  # unknown expiry: do not reuse


def _find_installation(settings: AppSettings, bearer: str, cfg: ProviderConfig, transport: Transport) -> int:
    """Installation owner → id: try it as an organization, then as a user."""
    errors = []
    for kind, label in (("orgs", "organization"), ("users", "user")):
        url = settings.base + f"{kind}/{segment(settings.installation_owner)}/installation"
        try:
            response = _app_call(Request("GET", url, headers(bearer, body=False)), cfg, transport, "")
        except DeliveryError as err:
            if err.retryable:
                raise err.wrap(APP_PREFIX) from None
            errors.append(f"failed to find {label} installation: {err}")
            continue
        answer = gitstatus.decode_json(response, APP_PREFIX)
        if isinstance(answer, dict) and isinstance(answer.get("id"), int):
            return answer["id"]
        errors.append(f"failed to find {label} installation: no installation id in the response")
    raise DeliveryError(APP_PREFIX + "\n".join(errors), retryable=False)


def _app_call(
    request: Request, cfg: ProviderConfig, transport: Transport, prefix: str = APP_PREFIX
) -> Response:
    """Token calls use the provider proxy (the only GitHub calls that do, spec §3.5)."""
    return send_one(request, cfg, transport, check_sdk, prefix, use_tls=False)
