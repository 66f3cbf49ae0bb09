"""Effective provider options (spec §3.1–3.4): spec, Secret, proxy Secret, TLS material."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import pytest

from fluxnotify.config.options import ConfigError, ProviderConfig, parse_duration, redact
from fluxnotify.model.manifests import parse_object
from fluxnotify.providers import resolve
from fluxnotify.transport.http import DEFAULT_TIMEOUT, TLSMaterial

NS = "flux-system"


@lru_cache(maxsize=1)
def pki() -> dict[str, str]:
    """A throw-away CA and a client certificate/key it signed, as PEM text."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "options test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return {
        "ca": ca.public_bytes(pem).decode(),
        "cert": cert.public_bytes(pem).decode(),
        "key": key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(),
    }


def provider(type_name: str = "generic", uid: str = "", **spec):
    metadata = {"name": "p", "namespace": NS}
    if uid:
        metadata["uid"] = uid
    return parse_object({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "kind": "Provider",
        "metadata": metadata,
        "spec": {"type": type_name, **spec},
    })


def resolve_with(secrets: dict[str, dict[str, str]], type_name: str = "generic", **spec) -> ProviderConfig:
    def lookup(namespace: str, name: str):
        return secrets.get(f"{namespace}/{name}")
    return resolve(provider(type_name, **spec), lookup)


def config_error(secrets, type_name="generic", **spec) -> str:
    with pytest.raises(ConfigError) as caught:
        resolve_with(secrets, type_name, **spec)
    return str(caught.value)


def with_secret(data: dict[str, str], type_name: str = "generic", **spec) -> ProviderConfig:
    return resolve_with({f"{NS}/s": data}, type_name, secretRef={"name": "s"}, **spec)


# --- spec only -------------------------------------------------------------------------------------


def test_spec_values_without_secret():
    cfg = resolve_with({}, "slack", channel="general", username="flux", address=" https://h/x ",
                       proxy="http://proxy:3128", timeout="1m30s", uid="0c9c2e41-d2f9")
    assert (cfg.namespace, cfg.name, cfg.key, cfg.type) == (NS, "p", f"{NS}/p", "slack")
    assert cfg.uid == "0c9c2e41-d2f9"
    assert (cfg.channel, cfg.username) == ("general", "flux")
    assert cfg.address == " https://h/x "  # spec.address is not trimmed
    assert cfg.proxy == "http://proxy:3128"
    assert cfg.timeout == 90.0
    assert (cfg.token, cfg.password, cfg.headers, cfg.tls, cfg.secret) == ("", "", {}, None, {})


def test_default_timeout_is_15_seconds():
    assert DEFAULT_TIMEOUT == 15.0
    assert resolve_with({}).timeout == 15.0


def test_bad_timeout_is_a_config_error():
    message = config_error({}, timeout="1h")
    assert "1h" in message


# --- secretRef ------------------------------------------------------------------------------------


def test_missing_secret_text():
    message = config_error({}, secretRef={"name": "gone"})
    assert message.startswith(f"failed to get secret '{NS}/gone': ")


def test_secret_address_is_trimmed_and_overrides_spec():
    cfg = with_secret({"address": "  https://hooks.example.com/x \n"}, address="https://spec")
    assert cfg.address == "https://hooks.example.com/x"


def test_secret_address_limit_is_2048_bytes_not_characters():
    assert with_secret({"address": "a" * 2048}).address == "a" * 2048
    expected = "invalid address in secret: address exceeds maximum length of 2048 bytes"
    assert config_error({f"{NS}/s": {"address": "a" * 2049}}, secretRef={"name": "s"}) == expected
    # 1,025 characters but 2,050 bytes
    assert config_error({f"{NS}/s": {"address": "é" * 1025}}, secretRef={"name": "s"}) == expected


def test_empty_secret_address_empties_the_spec_address():
    assert with_secret({"address": "   "}, address="https://spec").address == ""


def test_secret_proxy_trimmed_and_overrides_spec_proxy():
    cfg = with_secret({"proxy": " http://secret-proxy:8080 \n"}, proxy="http://spec-proxy:1")
    assert cfg.proxy == "http://secret-proxy:8080"


@pytest.mark.parametrize("proxy", ["http://h:port", "http://h\x00x", "http://h\x7f"])
def test_unparsable_secret_proxy_text(proxy):
    message = config_error({f"{NS}/s": {"proxy": proxy}}, secretRef={"name": "s"})
    assert message == f"invalid 'proxy' in secret '{NS}/s'"


def test_secret_proxy_with_space_in_host_is_unparsable():
    message = config_error({f"{NS}/s": {"proxy": "http://proxy host:3128"}}, secretRef={"name": "s"})
    assert message == f"invalid 'proxy' in secret '{NS}/s'"


def test_headers_from_yaml_map():
    cfg = with_secret({"headers": "X-Api-Key: abc\nContent-Type: text/plain\nx-lower: 'quoted: yes'\n"})
    assert cfg.headers == {"X-Api-Key": "abc", "Content-Type": "text/plain", "x-lower": "quoted: yes"}


def test_empty_headers_yaml_is_no_headers():
    assert with_secret({"headers": ""}).headers == {}


@pytest.mark.parametrize("headers", ["- a\n- b\n", "just text", "a: [b\n", "X-Num: 5\n", "X-Map: {a: b}\n"])
def test_bad_headers_text(headers):
    message = config_error({f"{NS}/s": {"headers": headers}}, secretRef={"name": "s"})
    assert message.startswith("failed to read headers from secret: ")


def test_secret_data_is_passed_through_whole():
    data = {"token": "t", "nkey": "n", "githubAppID": "1", "other": "x"}
    assert with_secret(data).secret == data


# --- credentials: the all-or-nothing quirk ------------------------------------------------------------


def test_token_is_not_trimmed():
    assert with_secret({"token": "  tok\n"}).token == "  tok\n"


def test_empty_token_is_not_applied():
    assert with_secret({"token": ""}).token == ""


def test_username_and_password_override_spec_username():
    cfg = with_secret({"username": "secret-user", "password": "pw", "token": "tok"}, username="spec-user")
    assert (cfg.username, cfg.password, cfg.token) == ("secret-user", "pw", "tok")


def test_empty_username_and_password_in_secret_still_override():
    cfg = with_secret({"username": "", "password": ""}, username="spec-user")
    assert (cfg.username, cfg.password) == ("", "")


@pytest.mark.parametrize("creds", [{"username": "u"}, {"password": "p"}])
def test_username_xor_password_drops_every_credential_including_the_token(creds):
    cfg = with_secret({**creds, "token": "tok", "address": " http://still-applied ", "proxy": "http://px:1",
                       "headers": "A: b"}, username="spec-user")
    assert cfg.token == ""
    assert (cfg.username, cfg.password) == ("spec-user", "")
    # address, proxy and headers are still applied, and no error is raised
    assert (cfg.address, cfg.proxy, cfg.headers) == ("http://still-applied", "http://px:1", {"A": "b"})


@pytest.mark.parametrize("tls", [{"tls.crt": "x"}, {"tls.key": "x"}, {"ca.crt": "garbage"}])
def test_unusable_tls_keys_in_secret_drop_credentials_without_error(tls):
    cfg = with_secret({**tls, "token": "tok", "username": "u", "password": "p", "address": "http://a"})
    assert (cfg.token, cfg.username, cfg.password) == ("", "", "")
    assert cfg.address == "http://a"
    assert cfg.tls is None


def test_usable_tls_keys_in_secret_keep_credentials():
    cfg = with_secret({"ca.crt": pki()["ca"], "token": "tok"})
    assert cfg.token == "tok"
    assert cfg.tls is None  # not a commit-status type: secretRef TLS keys are not used


# --- proxySecretRef -----------------------------------------------------------------------------------


def test_proxy_secret_builds_url_with_userinfo_and_overrides_everything():
    secrets = {
        f"{NS}/s": {"proxy": "http://from-secret:1"},
        f"{NS}/px": {"address": "http://proxy.internal:3128", "username": "us er", "password": "p@ss:w"},
    }
    cfg = resolve_with(secrets, secretRef={"name": "s"}, proxySecretRef={"name": "px"}, proxy="http://spec:2")
    assert cfg.proxy == "http://us%20er:p%40ss%3Aw@proxy.internal:3128"


def test_proxy_secret_without_credentials_is_the_address():
    cfg = resolve_with({f"{NS}/px": {"address": "https://proxy:8443"}}, proxySecretRef={"name": "px"})
    assert cfg.proxy == "https://proxy:8443"


def test_proxy_secret_username_only():
    cfg = resolve_with({f"{NS}/px": {"address": "http://proxy:3128", "username": "u"}}, proxySecretRef={"name": "px"})
    assert cfg.proxy == "http://u@proxy:3128"


def test_proxy_secret_without_address_key():
    message = config_error({f"{NS}/px": {"username": "u"}}, proxySecretRef={"name": "px"})
    assert message == f"failed to get proxy URL: secret '{NS}/px': key 'address' not found"


@pytest.mark.parametrize("address", ["", "   "])
def test_proxy_secret_with_empty_address(address):
    message = config_error({f"{NS}/px": {"address": address}}, proxySecretRef={"name": "px"})
    assert message == f"failed to get proxy URL: secret '{NS}/px': proxy address is empty"


def test_missing_proxy_secret():
    message = config_error({}, proxySecretRef={"name": "px"})
    assert message.startswith(f"failed to get secret '{NS}/px': ")


# --- TLS (§3.4) --------------------------------------------------------------------------------------


def with_cert_secret(data: dict[str, str], type_name: str = "generic", **spec) -> ProviderConfig:
    return resolve_with({f"{NS}/certs": data}, type_name, certSecretRef={"name": "certs"}, **spec)


def tls_error(data: dict[str, str], type_name: str = "generic") -> str:
    return config_error({f"{NS}/certs": data}, type_name, certSecretRef={"name": "certs"})


def test_ca_only():
    ca = pki()["ca"]
    assert with_cert_secret({"ca.crt": ca}).tls == TLSMaterial(ca=ca)


def test_client_pair_only():
    material = pki()
    assert with_cert_secret({"tls.crt": material["cert"], "tls.key": material["key"]}).tls == TLSMaterial(
        cert=material["cert"], key=material["key"])


def test_ca_and_client_pair():
    m = pki()
    assert with_cert_secret({"ca.crt": m["ca"], "tls.crt": m["cert"], "tls.key": m["key"]}).tls == TLSMaterial(
        ca=m["ca"], cert=m["cert"], key=m["key"])


def test_legacy_keys():
    m = pki()
    assert with_cert_secret({"caFile": m["ca"], "certFile": m["cert"], "keyFile": m["key"]}).tls == TLSMaterial(
        ca=m["ca"], cert=m["cert"], key=m["key"])


def test_standard_keys_win_over_legacy():
    m = pki()
    cfg = with_cert_secret({"ca.crt": m["ca"], "caFile": "garbage"})
    assert cfg.tls == TLSMaterial(ca=m["ca"])


def test_neither_ca_nor_pair_exact_text():
    assert tls_error({"token": "x"}) == (
        f"failed to get TLS config: secret '{NS}/certs' must contain either 'ca.crt' or both 'tls.crt' and 'tls.key'"
    )
    assert tls_error({}).endswith("must contain either 'ca.crt' or both 'tls.crt' and 'tls.key'")


def test_cert_without_key_and_key_without_cert():
    m = pki()
    assert tls_error({"tls.crt": m["cert"]}).startswith("failed to get TLS config: ")
    assert tls_error({"tls.key": m["key"]}).startswith("failed to get TLS config: ")
    assert tls_error({"ca.crt": m["ca"], "tls.crt": m["cert"]}).startswith("failed to get TLS config: ")


@pytest.mark.parametrize("ca", ["garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_unparsable_ca_exact_text(ca):
    assert tls_error({"ca.crt": ca}) == "failed to get TLS config: failed to parse CA certificate"


def test_unparsable_pair():
    m = pki()
    assert tls_error({"tls.crt": "garbage", "tls.key": "garbage"}).startswith("failed to get TLS config: ")
    assert tls_error({"tls.crt": m["ca"], "tls.key": m["key"]}).startswith("failed to get TLS config: ")


def test_missing_cert_secret():
    message = config_error({}, certSecretRef={"name": "certs"})
    assert message.startswith(f"failed to get secret '{NS}/certs': ")


@pytest.mark.parametrize("type_name", ["github", "gitlab", "gitea", "bitbucketserver", "bitbucket", "azuredevops"])
def test_commit_status_types_look_for_tls_in_secret_ref(type_name):
    ca = pki()["ca"]
    cfg = with_secret({"ca.crt": ca, "token": "t"}, type_name)
    assert cfg.tls == TLSMaterial(ca=ca)
    assert cfg.token == "t"


def test_commit_status_type_without_tls_keys_has_no_tls():
    assert with_secret({"token": "t"}, "github").tls is None


@pytest.mark.parametrize("type_name", ["generic", "slack", "githubdispatch"])
def test_other_types_ignore_tls_keys_in_secret_ref(type_name):
    assert with_secret({"ca.crt": pki()["ca"]}, type_name).tls is None


def test_cert_secret_ref_wins_over_secret_ref_for_commit_status_types():
    m = pki()
    secrets = {f"{NS}/s": {"token": "t", "tls.crt": m["cert"], "tls.key": m["key"]}, f"{NS}/certs": {"ca.crt": m["ca"]}}
    cfg = resolve_with(secrets, "github", secretRef={"name": "s"}, certSecretRef={"name": "certs"})
    assert cfg.tls == TLSMaterial(ca=m["ca"])


# --- durations -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15s", 15.0), ("1m", 60.0), ("500ms", 0.5), ("1m30s", 90.0), ("1.5s", 1.5), ("2m0.5s", 120.5),
     ("0s", 0.0), ("100ms100ms", 0.2)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "15", "1h", "1d", "-1s", "1.s", ".5s", "15 s", "15S", "s", "1m30", "PT15S"])
def test_parse_duration_rejects(text):
    with pytest.raises(ConfigError) as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


# --- sensitive values ----------------------------------------------------------------------------------


def test_sensitive_values_cover_credentials_headers_and_url_secrets():
    cfg = ProviderConfig(
        namespace=NS, name="p", uid="u", type="slack",
        address="https://hooks.slack.com/services/T000/B000/XXXXSECRET?key=abcd1234",
        proxy="http://user:proxypass@proxy:3128",
        token=" tokenvalue\n", password="hunter22",
        headers={"Authorization": "Bearer headersecret"},
        secret={"token": " tokenvalue\n", "extra": "extravalue", "tiny": "abc"},
    )
    values = cfg.sensitive_values()
    for expected in [" tokenvalue\n", "tokenvalue", "hunter22", "Bearer headersecret", "extravalue",
                     "/services/T000/B000/XXXXSECRET", "key=abcd1234", "proxypass"]:
        assert expected in values
    assert "abc" not in values  # too short to redact meaningfully
    assert values == sorted(values, key=len, reverse=True)
    assert len(values) == len(set(values))


def test_sensitive_values_skip_root_path():
    cfg = ProviderConfig(namespace=NS, name="p", uid="u", type="generic", address="https://example.com/")
    assert cfg.sensitive_values() == []


def test_redact_replaces_longest_first():
    cfg = ProviderConfig(namespace=NS, name="p", uid="u", type="generic", token="abcd", password="abcdefgh")
    text = "failed with abcdefgh and abcd"
    assert redact(text, cfg.sensitive_values()) == "failed with ***** and *****"
    assert redact("nothing here", cfg.sensitive_values()) == "nothing here"
