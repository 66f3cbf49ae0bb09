"""The forms a secret takes on its way out (config/secretforms.py): each must be masked, and
plain words and host names must not be (they would blank out every message)."""

from __future__ import annotations

import base64
import json
import urllib.parse

from fluxnotify.config.secretforms import redact, referenced_secret_forms, secret_forms
from fluxnotify.model.manifests import load_yaml

SECRET = 'pa ss/wörd"42'


def test_a_value_is_masked_as_sent_escaped_encoded_and_as_a_basic_credential():
    forms = secret_forms([SECRET], pairs=[("bot", SECRET)])
    basic = base64.b64encode(f"bot:{SECRET}".encode()).decode()
    for leaked in (SECRET, json.dumps(SECRET)[1:-1], urllib.parse.quote(SECRET, safe=""),
                   base64.b64encode(SECRET.encode()).decode(), basic, basic.rstrip("=")):
        assert redact(f"error: {leaked}!", forms) == "error: *****!", leaked
    assert forms == sorted(forms, key=len, reverse=True)


def test_pieces_of_a_url_are_masked_but_not_its_host_or_plain_words():
    url = "https://user:pw-9x7@hooks.example.com/services/T0/B0/XyZsecret123?token=q1w2e3r4"
    forms = secret_forms([url])
    for piece in ("user:pw-9x7", "pw-9x7", "/services/T0/B0/XyZsecret123", "token=q1w2e3r4", "XyZsecret123"):
        assert piece in forms, piece
    assert "hooks.example.com" not in forms and "services" not in forms and "https" not in forms
    # A mistyped URL no parser accepts still has its secret-like pieces masked.
    assert "XyZsecret123" in secret_forms(["https//hooks.example.com/XyZsecret123"])


def test_short_forms_and_empty_credentials_are_not_masked():
    assert "abc" not in secret_forms(["abc"])  # would mask every "abc" in a message
    assert secret_forms([""], pairs=[("", "")]) == []


def test_referenced_secrets_are_read_each_and_a_failing_read_is_skipped():
    (provider,) = load_yaml(
        "apiVersion: notification.toolkit.fluxcd.io/v1beta3\nkind: Provider\n"
        "metadata: {name: hook, namespace: apps}\n"
        "spec: {type: generic, secretRef: {name: auth}, certSecretRef: {name: tls}, proxySecretRef: {name: proxy}}\n"
    )
    read = []

    def lookup(namespace: str, name: str):
        read.append(f"{namespace}/{name}")
        if name == "tls":
            raise RuntimeError("secret store down")
        return {"auth": {"token": "tok-5566"}, "proxy": {"address": "http://p:proxypw99@proxy:3128"}}[name]

    forms = referenced_secret_forms(provider, lookup)
    assert read == ["apps/auth", "apps/tls", "apps/proxy"]
    assert "tok-5566" in forms and "proxypw99" in forms
    assert referenced_secret_forms(None, lookup) == [] and len(read) == 3
