"""HTTP transport shared by all providers: pooled connections, proxies, TLS, errors.

One attempt per call. Failures become DeliveryError, classified as spec §4.3
does: transport errors and 429/5xx (except 501) are retryable; TLS verification
failures, bad URLs, bad headers and every other status are permanent. Durable
retries happen through the queue (see dispatcher.py), never by sleeping here.

Pools are kept per (proxy, TLS material) for the life of the process, so warm
Lambda invocations reuse connections; without a proxy, each URL's connection pool and
request target are looked up once (``_route``), not parsed again for every request. Error texts never contain a URL path or
query (where Slack, Discord, Teams and Telegram URLs carry their secrets).
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import LocationParseError, ProxySchemeUnknown, SSLError
from urllib3.util import parse_url

from fluxnotify.errors import DeliveryFailed
from fluxnotify.transport.failures import answered, describe, redact_url, request_secrets

DEFAULT_TIMEOUT = 15.0
MAX_ROUTES = 1024  # URLs whose pool and request target are kept


@dataclass(frozen=True)
class TLSMaterial:
    """PEM texts from a certSecretRef (spec §3.4). The CA replaces the system trust store."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Request:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes
    request: Request | None = field(default=None, repr=False, compare=False)  # what was answered

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class DeliveryError(DeliveryFailed):
    """A failed delivery. ``retryable`` follows spec §4.3; ``retry_after`` is in seconds."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after

    def wrap(self, prefix: str) -> DeliveryError:
        """The same failure with the provider's message prefix (e.g. 'postMessage failed: ')."""
        return DeliveryError(
            prefix + str(self),
            retryable=self.retryable,
            status=self.status,
            retry_after=self.retry_after,
        )


def wire_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header values as Go's client sends them: non-ASCII text as its UTF-8 bytes (http.client
    writes header strings as Latin-1, so each byte is passed as one Latin-1 character); a
    value outside Latin-1 would otherwise fail the delivery."""
    return {
        name: value if value.isascii() else value.encode("utf-8", "replace").decode("latin-1")
        for name, value in headers.items()
    }


def is_retryable_status(status: int) -> bool:
    """429, 408 (DESIGN.md "Flow" retries it too) and 5xx except 501 (spec §4.3)."""
    return status in (408, 429) or (status >= 500 and status != 501) or status < 100


def status_error(response: Response) -> DeliveryError:
    """A non-2xx answer in user terms (`POST https://host/… answered 500 Internal Server Error:
    <body excerpt>`, credentials masked), classified for retries as spec §4.4 does."""
    retry_after = None
    if response.status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    request = response.request
    secrets = request_secrets(request.url, request.headers) if request else []
    return DeliveryError(
        answered(request.method if request else "", request.url if request else "", response.status,
                 response.text[:4096], secrets),
        retryable=is_retryable_status(response.status),
        status=response.status,
        retry_after=retry_after,
    )


def check_2xx(response: Response) -> None:
    if not 200 <= response.status <= 299:
        raise status_error(response)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: integer seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Transport:
    """Sends Requests through urllib3 pools reused across calls (and warm invocations)."""

    def __init__(self, num_pools: int = 64, maxsize: int = 16):
        self._num_pools = num_pools
        self._maxsize = maxsize
        self._managers: dict[tuple[str, TLSMaterial | None], urllib3.PoolManager] = {}
        self._routes: dict[tuple[str, TLSMaterial | None], tuple[Any, str]] = {}  # (url, tls) → pool, target
        self._timeouts: dict[float, urllib3.Timeout] = {}
        self._lock = threading.Lock()
        # Read once, as Go's ProxyFromEnvironment does: walking os.environ per request is costly.
        self._env_proxies = urllib.request.getproxies_environment()

    def send(self, request: Request, *, proxy: str = "", tls: TLSMaterial | None = None,
             timeout: float = DEFAULT_TIMEOUT) -> Response:
        """One attempt. Returns any HTTP answer; raises DeliveryError for transport failures."""
        try:
            proxy = proxy or _environment_proxy(request.url, self._env_proxies)
            options: dict[str, Any] = {"body": request.body or None, "headers": wire_headers(request.headers),
                                       "redirect": False, "retries": False, "timeout": self._timeout(timeout),
                                       "assert_same_host": False}
            route = None if proxy else self._route(request.url, tls)
            if route is None:
                answer = self._manager(proxy, tls).urlopen(request.method, request.url, **options)
            else:
                answer = route[0].urlopen(request.method, route[1], **options)
        except DeliveryError:
            raise
        except (LocationParseError, ProxySchemeUnknown, ValueError) as err:
            raise self._failure(request, err, timeout, retryable=False) from None
        except SSLError as err:
            verify_failed = "CERTIFICATE_VERIFY_FAILED" in str(err)
            raise self._failure(request, err, timeout, retryable=not verify_failed) from None
        except (Urllib3Error, OSError) as err:
            raise self._failure(request, err, timeout, retryable=True) from None
        return Response(answer.status, answer.headers, answer.data, request)

    def _route(self, url: str, tls: TLSMaterial | None) -> tuple[Any, str] | None:
        """The manager's connection pool of the URL's origin and the request target: what
        PoolManager.urlopen works out on every call, once per URL (None: no http(s) scheme,
        left to the manager, its warnings and errors)."""
        key = (url, tls)
        route = self._routes.get(key)
        if route is None:
            parts = parse_url(url)
            if parts.scheme not in ("http", "https"):
                return None
            manager = self._manager("", tls)
            route = (manager.connection_from_host(parts.host, port=parts.port, scheme=parts.scheme), parts.request_uri)
            if len(self._routes) >= MAX_ROUTES:
                self._routes.clear()
            self._routes[key] = route
        return route

    def _timeout(self, seconds: float) -> urllib3.Timeout:
        timeout = self._timeouts.get(seconds)
        if timeout is None:
            timeout = urllib3.Timeout(total=seconds)
            if len(self._timeouts) < MAX_ROUTES:  # cut to the time left, it can be any value
                self._timeouts[seconds] = timeout
        return timeout

    @staticmethod
    def _failure(request: Request, err: Exception, timeout: float, *, retryable: bool) -> DeliveryError:
        text = f"{request.method} {redact_url(request.url)}: {describe(err, request.url, timeout)}"
        return DeliveryError(text, retryable=retryable)

    def _manager(self, proxy: str, tls: TLSMaterial | None) -> urllib3.PoolManager:
        key = (proxy, tls)
        manager = self._managers.get(key)
        if manager is not None:
            return manager
        with self._lock:
            manager = self._managers.get(key)
            if manager is None:
                manager = self._new_manager(proxy, tls)
                self._managers[key] = manager
        return manager

    def _new_manager(self, proxy: str, tls: TLSMaterial | None) -> urllib3.PoolManager:
        options: dict[str, Any] = {"num_pools": self._num_pools, "maxsize": self._maxsize, "block": False}
        if tls is not None:
            options["ssl_context"] = ssl_context(tls)
        if not proxy:
            return urllib3.PoolManager(**options)
        parts = urllib.parse.urlsplit(proxy)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DeliveryError("unable to parse proxy URL: unsupported proxy", retryable=False)
        headers = None
        if parts.username or parts.password:
            userinfo = urllib.parse.unquote(f"{parts.username or ''}:{parts.password or ''}")
            headers = urllib3.make_headers(proxy_basic_auth=userinfo)
        bare = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        return urllib3.ProxyManager(bare, proxy_headers=headers, **options)


_CONTEXTS: dict[TLSMaterial, ssl.SSLContext] = {}


def ssl_context(tls: TLSMaterial) -> ssl.SSLContext:
    """An SSLContext for the material; raises ValueError with the spec's texts when unusable."""
    cached = _CONTEXTS.get(tls)
    if cached is not None:
        return cached
    if tls.ca:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_verify_locations(cadata=tls.ca)
        except (ssl.SSLError, ValueError):
            raise ValueError("failed to parse CA certificate") from None
    else:
        context = ssl.create_default_context()
    if tls.cert and tls.key:
        _load_client_pair(context, tls.cert, tls.key)
    _CONTEXTS[tls] = context
    return context


def _load_client_pair(context: ssl.SSLContext, cert: str, key: str) -> None:
    # ssl can only read a client pair from files: keep them private, named by content.
    import tempfile  # only with a client certificate: off the cold start

    digest = hashlib.sha256((cert + "\0" + key).encode()).hexdigest()[:32]
    path = os.path.join(tempfile.gettempdir(), f"fluxnotify-{digest}.pem")
    if not os.path.exists(path):
        descriptor = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(cert.strip() + "\n" + key.strip() + "\n")
        os.replace(path + ".tmp", path)
    try:
        context.load_cert_chain(path)
    except (ssl.SSLError, ValueError):
        raise ValueError("failed to parse client certificate and key") from None


def environment_proxy(url: str) -> str:
    """The proxy the environment gives this URL (what a delivery without its own proxy uses)."""
    return _environment_proxy(url, urllib.request.getproxies_environment())


def _environment_proxy(url: str, proxies: dict[str, str]) -> str:
    """HTTP(S)_PROXY / NO_PROXY from the environment, as Go's default transport does."""
    if not proxies:
        return ""
    parts = urllib.parse.urlsplit(url)
    # Undocumented (so not in the stubs) but stable: the NO_PROXY rules urllib itself applies.
    if urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):  # type: ignore[attr-defined]
        return ""
    return proxies.get(parts.scheme, "")
