"""email: SMTP submission to a real SMTP server (aiosmtpd) with STARTTLS/TLS and AUTH."""

from __future__ import annotations

import json
import socket
import ssl

import pytest
from fixtures.chat.chat_helpers import (
    alert_yaml,
    config,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
    secret_yaml,
)
from fixtures.tls_fixtures import pki
from smtpsink import SmtpSink

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.validate import conditions
from fluxnotify.providers.chat import email as email_provider
from fluxnotify.transport.http import DeliveryError, TLSMaterial, Transport
from helpers import dispatch

PASSWORD = "s3cr3t-SMTP-pa55word"
LOGINS = {"AKIAEXAMPLESMTPUSER": PASSWORD}
CA = TLSMaterial(ca=pki()["ca"])
TITLE = "GitRepository gitops-system/webapp: ReconciliationFailed"


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory) -> ssl.SSLContext:
    material = pki()
    pem = tmp_path_factory.mktemp("smtp") / "server.pem"
    pem.write_text(material["cert"] + material["key"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    return context


@pytest.fixture
def smtp(server_tls):
    with SmtpSink(tls=server_tls, logins=LOGINS) as sink:
        yield sink


def cfg(port: int, scheme: str = "smtp", tls: TLSMaterial | None = CA, **values):
    values = {"channel": "ops@example.com, oncall@example.com", "spec_username": "flux@example.com",
              "username": "AKIAEXAMPLESMTPUSER", "password": PASSWORD,
              "secret": {"username": "AKIAEXAMPLESMTPUSER", "password": PASSWORD}, **values}
    return config("email", address=f"{scheme}://127.0.0.1:{port}", tls=tls, **values)


def failed_event():
    return event("error", "apply failed: <script>alert(1)</script> & more", {"revision": "main@sha1:abc"})


# --- the message ------------------------------------------------------------------------------


def test_encode_builds_subject_parts_and_stable_ids():
    [delivery] = providers.encode(failed_event(), cfg(587))
    rendered = delivery.render()
    assert rendered["subject"] == f"[error] {TITLE}"
    assert (rendered["from"], rendered["to"]) == ("flux@example.com", ["ops@example.com", "oncall@example.com"])
    assert (rendered["server"], rendered["tls"], rendered["auth"]) == ("smtp://127.0.0.1:587", "starttls", True)
    assert rendered["date"] == "Fri, 30 Sep 2022 06:40:29 +0000"
    assert rendered["text"] == (f"{TITLE}\n\napply failed: <script>alert(1)</script> & more\n\n"
                                "severity: error\ntime: 2022-09-30T06:40:29Z\ncontroller: source-controller\n"
                                "revision: main@sha1:abc\n")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in rendered["html"]
    assert "<script>" not in rendered["html"]
    assert "<th align=\"left\" style=\"padding-right:1em\">revision</th><td>main@sha1:abc</td>" in rendered["html"]
    assert PASSWORD not in json.dumps(rendered) and "AKIAEXAMPLESMTPUSER" not in json.dumps(rendered)
    again = providers.encode(failed_event(), cfg(587))[0]
    assert again.message_id == delivery.message_id and delivery.message_id.endswith("@example.com>")
    other = providers.encode(event("info", "ok"), cfg(587))[0]
    assert other.message_id != delivery.message_id and other.subject.startswith("[info] ")


def test_header_injection_in_event_data_is_neutralised():
    evil = event("error", "m", reason="Failed\r\nBcc: victim@example.com")
    [delivery] = providers.encode(evil, cfg(587))
    assert delivery.subject == "[error] GitRepository gitops-system/webapp: Failed Bcc: victim@example.com"
    assert "Bcc" not in delivery.message().keys()


@pytest.mark.parametrize(("values", "expected"), [
    ({}, "flux@example.com"),  # spec.username wins over the SMTP login
    ({"spec_username": "", "secret": {"from": "alerts@example.com", "username": "u", "password": "p"}},
     "alerts@example.com"),
    ({"spec_username": "", "username": "me@example.com", "secret": {"username": "me@example.com", "password": "p"}},
     "me@example.com"),  # a login that is a mailbox (Gmail, Office 365)
])
def test_from_address_sources(values, expected):
    assert email_provider.sender(cfg(587, **values)) == expected


@pytest.mark.parametrize(("values", "error"), [
    ({"address": "https://mail.example.com"}, "invalid e-mail server address: expected smtp://host:587"),
    ({"address": "smtp://user:pw@mail.example.com:587"}, "put the SMTP login in the Secret"),
    ({"address": "smtp://mail.example.com:587/x"}, "no path or query"),
    ({"address": "smtp://mail.example.com:99999"}, "invalid e-mail server address"),
    ({"channel": " , "}, "email recipients (spec.channel) cannot be empty"),
    ({"channel": "ops@example.com,not-an-address"}, "entry 2 'not-an-address' is not an address"),
    ({"channel": ",".join(f"u{i}@example.com" for i in range(51))}, "at most 50 addresses, got 51"),
    ({"spec_username": "", "username": "AKIA", "secret": {}}, "email From address: set spec.username"),
    ({"password": "", "secret": {"password": "p"}}, "'username' and 'password' (SMTP AUTH) must be set together"),
])
def test_config_errors(values, error):
    base = cfg(587)
    with pytest.raises(ConfigError) as caught:
        providers.validate(config("email", **{**{k: getattr(base, k) for k in (
            "address", "channel", "spec_username", "username", "password", "secret")}, **values}))
    assert error in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_default_ports():
    assert email_provider.server("smtp://mail.example.com") == ("smtp", "mail.example.com", 587)
    assert email_provider.server("smtps://mail.example.com") == ("smtps", "mail.example.com", 465)


# --- delivery to a real SMTP server -------------------------------------------------------------


def test_starttls_and_auth_deliver_both_parts(smtp):
    providers.deliver(failed_event(), cfg(smtp.port), Transport())
    [received] = smtp.wait_for(1)
    assert (received.tls, received.login) == (True, "AKIAEXAMPLESMTPUSER")
    assert received.sender == "flux@example.com"
    assert received.recipients == ["ops@example.com", "oncall@example.com"]
    message = received.message
    assert (message["From"], message["To"]) == ("flux@example.com", "ops@example.com, oncall@example.com")
    assert message["Subject"] == f"[error] {TITLE}"
    assert message["Date"] == "Fri, 30 Sep 2022 06:40:29 +0000" and message["Message-ID"].startswith("<")
    assert message.get_content_type() == "multipart/alternative"
    plain, rich = message.iter_parts()
    assert plain.get_content_type() == "text/plain" and "revision: main@sha1:abc" in plain.get_content()
    assert rich.get_content_type() == "text/html" and "&lt;script&gt;" in rich.get_content()


def test_implicit_tls_with_non_ascii_subject(server_tls):
    with SmtpSink(tls=server_tls, implicit_tls=True, logins=LOGINS) as smtps:
        evil = event("info", "déployé ✓", reason="Réconcilié")
        providers.deliver(evil, cfg(smtps.port, scheme="smtps"), Transport())
        [received] = smtps.wait_for(1)
    assert received.login == "AKIAEXAMPLESMTPUSER"
    assert received.message["Subject"] == "[info] GitRepository gitops-system/webapp: Réconcilié"
    assert "déployé ✓" in next(received.message.iter_parts()).get_content()


@pytest.mark.parametrize(("reply", "retryable"), [("451 4.3.0 Temporary local problem", True),
                                                  ("550 5.1.1 Mailbox unavailable", False)])
def test_data_reply_classified(smtp, reply, retryable):
    smtp.respond(reply)
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(failed_event(), cfg(smtp.port), Transport())
    assert caught.value.retryable is retryable
    assert reply.split()[0] in str(caught.value) and "127.0.0.1" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert smtp.messages == []


def test_wrong_password_is_permanent_and_not_echoed(smtp):
    wrong = "wrong-" + PASSWORD
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(failed_event(), cfg(smtp.port, password=wrong), Transport())
    assert caught.value.retryable is False and "535" in str(caught.value)
    assert wrong not in str(caught.value)


def test_no_starttls_offered_refuses_to_send_credentials():
    with SmtpSink(tls=None, logins=None) as plain:
        with pytest.raises(DeliveryError) as caught:
            providers.deliver(failed_event(), cfg(plain.port), Transport())
        assert plain.messages == [] and plain.logins_seen == []
    assert caught.value.retryable is False
    assert "does not offer STARTTLS" in str(caught.value)


def test_untrusted_certificate_is_permanent(smtp):
    other = TLSMaterial(ca=pki("other")["ca"])
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(failed_event(), cfg(smtp.port, tls=other), Transport())
    assert caught.value.retryable is False and "TLS" in str(caught.value)
    assert smtp.messages == [] and smtp.logins_seen == []


def test_unreachable_server_is_retryable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        with pytest.raises(DeliveryError) as caught:
            providers.deliver(failed_event(), cfg(port), Transport())
    assert caught.value.retryable is True


# --- render, validate, dispatch -----------------------------------------------------------------


def manifests(port: int) -> str:
    return (
        provider_yaml("email", address=f"smtp://127.0.0.1:{port}", channel="ops@example.com",
                      username="flux@example.com", secretRef={"name": "smtp"}, certSecretRef={"name": "smtp-ca"})
        + secret_yaml("smtp", username="AKIAEXAMPLESMTPUSER", password=PASSWORD)
        + secret_yaml("smtp-ca", **{"ca.crt": pki()["ca"]})
    )


def test_render_shows_the_message_without_credentials():
    [result] = render_yaml(manifests(587), raw_event("error", "boom", {"revision": "r1"}))
    assert result["error"] is None
    [delivery] = result["deliveries"]
    assert delivery["transport"] == "smtp" and delivery["server"] == "smtp://127.0.0.1:587"
    assert (delivery["from"], delivery["to"]) == ("flux@example.com", ["ops@example.com"])
    assert delivery["subject"] == "[error] GitRepository gitops-system/webapp: ReconciliationSucceeded"
    assert "boom" in delivery["text"] and "boom" in delivery["html"]
    assert PASSWORD not in json.dumps(result) and "AKIAEXAMPLESMTPUSER" not in json.dumps(result)


def test_validate_says_it_is_a_fluxnotify_type():
    [condition] = conditions(load_yaml(manifests(587)))
    assert condition.ready
    assert condition.message == ("Initialized; note: `email` is a fluxnotify type; "
                                 "Flux's notification-controller would refuse it in a cluster")


def test_dispatch_delivers_through_the_dispatcher(smtp):
    report = dispatch(manifests(smtp.port) + alert_yaml("email"), raw_event("info", "deployed"))
    assert report.delivered == ["gitops-system/email"], report.dead_letters
    [received] = smtp.wait_for(1)
    assert received.recipients == ["ops@example.com"] and received.login == "AKIAEXAMPLESMTPUSER"


def test_dispatch_retries_a_4xx_and_dead_letters_a_5xx(smtp):
    smtp.respond("421 4.7.0 Try again later")
    report = dispatch(manifests(smtp.port) + alert_yaml("email"), raw_event("info", "deployed"))
    assert report.delivered == [] and len(report.retries) == 1 and report.dead_letters == []
    smtp.respond("554 5.7.1 Message rejected")
    report = dispatch(manifests(smtp.port) + alert_yaml("email"), raw_event("info", "again"))
    [dead] = report.dead_letters
    assert "554" in dead["error"] and PASSWORD not in json.dumps(dead)


def test_smtplib_is_imported_on_first_delivery_only():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from fluxnotify import providers\n"
        "from fluxnotify.model.event import parse_event\n"
        "providers.get('slack')\n"
        "before = 'fluxnotify.providers.chat.email' in sys.modules\n"
        "from fluxnotify.config.options import ProviderConfig\n"
        "cfg = ProviderConfig('ns', 'p', 'u', 'email', address='smtp://h', channel='a@b.c', spec_username='f@b.c')\n"
        "event = parse_event('{\"involvedObject\":{\"kind\":\"K\",\"namespace\":\"n\",\"name\":\"x\"},"
        "\"severity\":\"info\",\"message\":\"m\",\"reason\":\"r\"}')\n"
        "providers.validate(cfg); providers.encode(event, cfg)\n"
        "print(before, 'smtplib' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
