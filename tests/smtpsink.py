"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records every message and answers from a script.

The far side of the `email` provider, like HttpSink for the HTTP types:

    with SmtpSink(tls=server_context, logins={"user": "pw"}) as smtp:   # STARTTLS + AUTH
        smtp.respond("451 4.3.0 try again later")    # next DATA answers, in order; then 250
        ... deliver to f"smtp://127.0.0.1:{smtp.port}" ...
        [message] = smtp.wait_for(1)                 # .sender .recipients .message .login
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
import warnings
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes
    login: str | None  # the AUTH login of the session, None without AUTH
    tls: bool  # the session was encrypted (STARTTLS or implicit TLS)

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)


class SmtpSink:
    def __init__(self, *, tls: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 logins: dict[str, str] | None = None):
        self.messages: list[Received] = []
        self.logins_seen: list[str] = []
        self.script: deque[str] = deque()
        self._tls, self._implicit, self._logins = tls, implicit_tls, logins
        self._arrived = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    def respond(self, reply: str) -> None:
        """The answer to the next DATA command (e.g. '550 5.1.1 mailbox unavailable')."""
        self.script.append(reply)

    # --- aiosmtpd hooks ---------------------------------------------------------------------

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self._logins is None:
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self._logins.get(login) == password
        if ok:
            self.logins_seen.append(login)
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's name
        reply = self.script.popleft() if self.script else "250 2.0.0 OK queued"
        if reply.startswith("250"):
            with self._arrived:
                login = session.auth_data if session.authenticated else None
                self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                                              login, session.ssl is not None or self._implicit))
                self._arrived.notify_all()
        return reply

    def _protocol(self) -> SMTP:
        with warnings.catch_warnings():  # "AUTH without TLS": implicit TLS is TLS, aiosmtpd cannot tell
            warnings.simplefilter("ignore", UserWarning)
            return self._new_protocol()

    def _new_protocol(self) -> SMTP:
        return SMTP(
            self, hostname="127.0.0.1",
            tls_context=None if self._implicit else self._tls,
            require_starttls=self._tls is not None and not self._implicit,
            authenticator=self._authenticate if self._logins is not None else None,
            auth_required=self._logins is not None,
            auth_require_tls=not self._implicit,
        )

    # --- lifecycle --------------------------------------------------------------------------

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, timeout)
            return list(self.messages)

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        ssl_option = self._tls if self._implicit else None
        created = self._loop.create_server(self._protocol, "127.0.0.1", 0, ssl=ssl_option)
        self._server = asyncio.run_coroutine_threadsafe(created, self._loop).result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
