"""The GitHub API client shared by github, githubdispatch and githubpullrequestcomment (spec §5.7).

Construction: a token (``token``, else ``password``) or, when the Secret carries
``githubAppID``, a GitHub App whose installation token is fetched at delivery time;
an ``owner/repo`` address; the API base of github.com or of a GitHub Enterprise host.
API calls use no proxy and TLS material only off github.com; the App token calls are
the only GitHub calls that go through the provider proxy (spec §3.5).
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
from fluxnotify.providers.base import send_one
from fluxnotify.providers.git import gitstatus
from fluxnotify.providers.git.gitstatus import segment
from fluxnotify.transport.http import DeliveryError, Request, Response, Transport, status_error

PUBLIC_HOST = "github.com"
PUBLIC_API = "https://api.github.com/"
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

    def repo_url(self, *path: str) -> str:
        return self.url("repos", self.owner, self.repo, *path)


def repository(cfg: ProviderConfig) -> Repository:
    """Token (or App settings), then the address; ConfigError with the reference's texts."""
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


def json_request(method: str, url: str, payload: object, token: str) -> Request:
    """go-github's encoder: no HTML escaping, a trailing newline."""
    body = gitstatus.json_body(payload, escape_html=False, newline=True)
    return Request(method, url, headers(token, body=True), body)


def check_sdk(response: Response) -> None:
    """go-github: any 2xx is fine except 202 Accepted, which it reports as an error."""
    if response.status == 202:
        raise DeliveryError("job scheduled on GitHub side; try again later", retryable=False, status=202)
    if not 200 <= response.status <= 299:
        raise status_error(response)


def call(
    transport: Transport, request: Request, cfg: ProviderConfig, repo: Repository, prefix: str
) -> Response:
    """One API call: no proxy, TLS only for an enterprise host, go-github's success rule."""
    return gitstatus.call(transport, request, cfg, prefix=prefix, use_tls=repo.enterprise, check=check_sdk)


def display_token(cfg: ProviderConfig) -> str:
    """The token `render` shows: the PAT, or a placeholder for an App installation token."""
    return gitstatus.api_token(cfg) or APP_TOKEN_PLACEHOLDER


def token(cfg: ProviderConfig, transport: Transport) -> str:
    """The PAT, else a (cached) GitHub App installation token."""
    return gitstatus.api_token(cfg) or app_installation_token(cfg, transport)


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
_SLUGS: dict[str, str] = {}
_TOKENS_LOCK = threading.Lock()
_TOKEN_MARGIN = 300.0  # renew five minutes before GitHub's expiry
APP_PREFIX = "failed to get github app installation token: "
SLUG_PREFIX = "failed to get github app slug: "


def _cache_key(settings: AppSettings) -> str:
    return hashlib.sha256(repr(settings).encode()).hexdigest()


def app_installation_token(cfg: ProviderConfig, transport: Transport) -> str:
    """An installation token, cached per App settings until shortly before it expires."""
    settings = app_settings(cfg.secret)
    cache_key = _cache_key(settings)
    with _TOKENS_LOCK:
        cached = _TOKENS.get(cache_key)
    if cached is not None and cached[1] > time.time():
        return cached[0]
    bearer = app_jwt(settings)
    installation = settings.installation_id or _find_installation(settings, bearer, cfg, transport)
    url = settings.base + f"app/installations/{installation}/access_tokens"
    response = _app_call(Request("POST", url, headers(bearer, body=False)), cfg, transport)
    answer = gitstatus.decode_json(response, APP_PREFIX)
    installation_token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(installation_token, str) or not installation_token:
        raise DeliveryError(APP_PREFIX + "the response carries no token", retryable=False)
    with _TOKENS_LOCK:
        _TOKENS[cache_key] = (installation_token, _expiry(answer.get("expires_at")))
    return installation_token


def app_slug(cfg: ProviderConfig, transport: Transport) -> str:
    """The App's slug (``GET app`` with the App JWT), cached per App settings."""
    settings = app_settings(cfg.secret)
    cache_key = _cache_key(settings)
    with _TOKENS_LOCK:
        cached = _SLUGS.get(cache_key)
    if cached is not None:
        return cached
    request = Request("GET", settings.base + "app", headers(app_jwt(settings), body=False))
    answer = gitstatus.decode_json(_app_call(request, cfg, transport, SLUG_PREFIX), SLUG_PREFIX)
    slug = answer.get("slug") if isinstance(answer, dict) else None
    if not isinstance(slug, str) or not slug:
        raise DeliveryError(SLUG_PREFIX + "the response carries no slug", retryable=False)
    with _TOKENS_LOCK:
        _SLUGS[cache_key] = slug
    return slug


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
