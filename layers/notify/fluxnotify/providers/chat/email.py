"""`email`: SMTP submission (fluxnotify's own type; Flux has no e-mail notifier).

``address`` is ``smtp://host[:587]`` (STARTTLS, required) or ``smtps://host[:465]``
(implicit TLS); ``channel`` the recipients, comma-separated; the From address is
``spec.username``, else Secret key ``from``, else the SMTP login when it is an address.
SMTP AUTH (PLAIN/LOGIN, whatever the server offers) uses Secret keys ``username`` and
``password``; they are never sent before TLS is up. Amazon SES's SMTP interface works as is
(``smtp://email-smtp.<region>.amazonaws.com:587`` with the SES SMTP credentials).

The message is multipart/alternative: a plain-text part and an HTML part (event data
HTML-escaped). Message-ID is derived from the Provider and the event, so a retried delivery
carries the same id and mail systems can drop the duplicate. TLS trusts the certSecretRef CA
(and presents its client certificate) like the HTTP types; no proxy.

Failures are classified as for HTTP: a 4xx reply, a dropped or refused connection and a
timeout are retried; a 5xx reply, a refused recipient and a failed certificate check are not.
smtplib and ssl are imported on first delivery only.
"""

from __future__ import annotations

import hashlib
import html
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from fluxnotify.config.options import ConfigError, ProviderConfig
from fluxnotify.model import gojson
from fluxnotify.model.event import Event
from fluxnotify.providers.base import headline
from fluxnotify.transport.http import DeliveryError, TLSMaterial, Transport, ssl_context

DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
MAX_RECIPIENTS = 50  # Amazon SES's limit per message
_ADDRESS = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_COLORS = {"error": "#b3261e", "info": "#1e7b34"}


@dataclass(frozen=True)
class EmailDelivery:
    """One message to submit; `render` shows it without the credentials."""

    scheme: str  # "smtp" (STARTTLS) | "smtps" (implicit TLS)
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    subject: str
    text: str
    html: str
    date: str
    message_id: str
    login: tuple[str, str] | None = field(default=None, repr=False)

    def render(self) -> dict[str, Any]:
        return {
            "transport": "smtp",
            "server": f"{self.scheme}://{self.host}:{self.port}",
            "tls": "starttls" if self.scheme == "smtp" else "implicit",
            "auth": self.login is not None,
            "from": self.sender,
            "to": list(self.recipients),
            "subject": self.subject,
            "date": self.date,
            "message_id": self.message_id,
            "text": self.text,
            "html": self.html,
        }

    def message(self):  # -> email.message.EmailMessage
        from email.message import EmailMessage

        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message["Subject"] = self.subject
        if self.date:
            message["Date"] = self.date
        message["Message-ID"] = self.message_id
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


# --- configuration ---------------------------------------------------------------------


def validate(cfg: ProviderConfig) -> None:
    server(cfg.address)
    recipients(cfg.channel)
    sender(cfg)
    if ("username" in cfg.secret or "password" in cfg.secret) and not cfg.password:
        raise ConfigError("email: Secret keys 'username' and 'password' (SMTP AUTH) must be set together")


def server(address: str) -> tuple[str, str, int]:
    """(scheme, host, port) of `smtp://host[:port]` / `smtps://host[:port]`."""
    try:
        parts = urllib.parse.urlsplit(address)
        port = parts.port
    except ValueError:
        raise ConfigError("invalid e-mail server address: expected smtp://host:587 or smtps://host:465") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ConfigError(
            "invalid e-mail server address: expected smtp://host:587 (STARTTLS) or smtps://host:465 (TLS)"
        )
    if "@" in parts.netloc:
        raise ConfigError("invalid e-mail server address: put the SMTP login in the Secret (username, password)")
    if parts.path not in ("", "/") or parts.query:
        raise ConfigError("invalid e-mail server address: no path or query expected after the host and port")
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def recipients(channel: str) -> tuple[str, ...]:
    found = tuple(part.strip() for part in channel.split(",") if part.strip())
    if not found:
        raise ConfigError("email recipients (spec.channel) cannot be empty: a comma-separated list of addresses")
    if len(found) > MAX_RECIPIENTS:
        raise ConfigError(f"email recipients (spec.channel): at most {MAX_RECIPIENTS} addresses, got {len(found)}")
    for index, address in enumerate(found):
        if not _ADDRESS.fullmatch(address):
            raise ConfigError(
                f"email recipients (spec.channel): entry {index + 1} {address!r} is not an address such as ops@example.com"
            )
    return found


def sender(cfg: ProviderConfig) -> str:
    """spec.username, else Secret `from`, else the SMTP login when it is an address."""
    login = cfg.username if _ADDRESS.fullmatch(cfg.username) else ""
    found = (cfg.spec_username or cfg.secret.get("from") or login).strip()
    if not _ADDRESS.fullmatch(found):
        raise ConfigError(
            "email From address: set spec.username (or Secret key 'from') to an address such as flux@example.com"
        )
    return found


# --- the message -----------------------------------------------------------------------


def _details(event: Event) -> list[tuple[str, str]]:
    base = [("severity", event.severity), ("time", event.timestamp_text() or ""),
            ("controller", event.reporting_controller)]
    return [(k, v) for k, v in base if v] + list(gojson.go_sorted(event.metadata).items())


def text_body(event: Event) -> str:
    lines = [headline(event), "", event.message, ""]
    lines += [f"{key}: {value}" for key, value in _details(event)]
    return "\n".join(lines) + "\n"


def html_body(event: Event) -> str:
    esc = html.escape
    color = _COLORS.get(event.severity, _COLORS["info"])
    rows = "".join(
        f'<tr><th align="left" style="padding-right:1em">{esc(k)}</th><td>{esc(v)}</td></tr>'
        for k, v in _details(event)
    )
    return (
        "<!DOCTYPE html>\n<html><body>\n"
        f'<h3 style="color:{color}">{esc(headline(event))}</h3>\n'
        f'<pre style="white-space:pre-wrap">{esc(event.message)}</pre>\n'
        f"<table>{rows}</table>\n</body></html>\n"
    )


def message_id(event: Event, cfg: ProviderConfig, sender_address: str) -> str:
    digest = hashlib.sha256(f"{cfg.uid}\0{event.go_json()}".encode()).hexdigest()[:32]
    return f"<{digest}@{sender_address.rpartition('@')[2]}>"


def encode(event: Event, cfg: ProviderConfig) -> list[EmailDelivery]:
    validate(cfg)
    scheme, host, port = server(cfg.address)
    from_address = sender(cfg)
    date = ""
    if event.timestamp is not None:
        import email.utils

        date = email.utils.format_datetime(event.timestamp)
    return [
        EmailDelivery(
            scheme, host, port, from_address, recipients(cfg.channel),
            subject=f"[{event.severity}] {headline(event)}",
            text=text_body(event),
            html=html_body(event),
            date=date,
            message_id=message_id(event, cfg, from_address),
            login=(cfg.username, cfg.password) if cfg.password else None,
        )
    ]


# --- delivery --------------------------------------------------------------------------


def deliver(event: Event, cfg: ProviderConfig, transport: Transport) -> None:
    """Submit over SMTP; the HTTP transport is not used."""
    for delivery in encode(event, cfg):
        submit(delivery, cfg.tls, cfg.timeout)


def submit(delivery: EmailDelivery, tls: TLSMaterial | None, timeout: float) -> None:
    import smtplib
    import socket
    import ssl

    where = f"{delivery.host}:{delivery.port}"
    context = ssl_context(tls) if tls is not None else ssl.create_default_context()
    try:
        # The host is given to the constructor (it connects there): STARTTLS checks the
        # certificate against it.
        options: dict[str, Any] = {"timeout": timeout, "local_hostname": socket.gethostname()}
        client: smtplib.SMTP
        if delivery.scheme == "smtps":
            client = smtplib.SMTP_SSL(delivery.host, delivery.port, context=context, **options)
        else:
            client = smtplib.SMTP(delivery.host, delivery.port, **options)
        with client:
            client.ehlo()
            if delivery.scheme == "smtp":
                if not client.has_extn("starttls"):
                    raise DeliveryError(f"e-mail to {where} failed: the server does not offer STARTTLS; "
                                        "fluxnotify sends nothing without TLS", retryable=False)
                client.starttls(context=context)
                client.ehlo()
            if delivery.login is not None:
                client.login(*delivery.login)
            refused = client.send_message(delivery.message(), delivery.sender, list(delivery.recipients))
    except DeliveryError:
        raise
    except Exception as err:  # noqa: BLE001 - every client error is classified
        raise _failure(where, err, smtplib) from None
    if refused:
        # Some recipients took it: a retry would send it to them twice.
        listed = ", ".join(f"{rcpt} ({code})" for rcpt, (code, _) in sorted(refused.items()))
        raise DeliveryError(f"e-mail to {where}: recipients refused: {listed}", retryable=False)


def _failure(where: str, err: Exception, smtplib) -> DeliveryError:
    """4xx replies, dropped connections and timeouts are retried; 5xx and bad certificates not."""
    import ssl

    prefix = f"e-mail to {where} failed: "
    if isinstance(err, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in err.recipients.values()]
        listed = ", ".join(f"{rcpt} ({code})" for rcpt, (code, _) in sorted(err.recipients.items()))
        return DeliveryError(f"{prefix}recipients refused: {listed}",
                             retryable=all(400 <= code < 500 for code in codes))
    if isinstance(err, smtplib.SMTPResponseException):
        text = err.smtp_error.decode("utf-8", "replace") if isinstance(err.smtp_error, bytes) else str(err.smtp_error)
        return DeliveryError(f"{prefix}{err.smtp_code} {text}", retryable=400 <= err.smtp_code < 500)
    if isinstance(err, ssl.SSLCertVerificationError):
        return DeliveryError(f"{prefix}TLS: {err.verify_message or err}", retryable=False)
    if isinstance(err, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"{prefix}{err}", retryable=False)
    return DeliveryError(f"{prefix}{type(err).__name__}: {err}", retryable=True)
