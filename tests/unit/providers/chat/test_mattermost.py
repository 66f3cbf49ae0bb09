"""mattermost: the posts API with a bot token, or an incoming webhook; attachments coloured by severity."""

from __future__ import annotations

import json

import pytest
from fixtures.chat.chat_helpers import (
    alert_yaml,
    body,
    config,
    encode_one,
    event,
    provider_yaml,
    raw_event,
    render_yaml,
    secret_yaml,
)

from fluxnotify import providers
from fluxnotify.config.options import ConfigError
from fluxnotify.model.manifests import load_yaml
from fluxnotify.ops.validate import conditions
from fluxnotify.transport.http import DeliveryError, Transport
from helpers import dispatch

TOKEN = "9xuqwrwgstrb3mzrxb83nb357a"
CHANNEL = "qmd5oqtwoibz8cuzxzg5ekshgr"
HOOK_PATH = "/hooks/xi1bq9ke6jbsdxi8mnz9b1gjbh"
TITLE = "GitRepository gitops-system/webapp: ReconciliationFailed"


def attachment(color: str, title: str, text: str, fields: list[dict]) -> dict:
    return {"fallback": f"{title}: {text.splitlines()[0]}", "color": color, "title": title, "text": text,
            "fields": fields}


FAILED = attachment("danger", TITLE, "apply failed\nline 2",
                    [{"title": "a", "value": "1", "short": False}, {"title": "revision", "value": "r1", "short": False}])


def failed():
    return event("error", "apply failed\nline 2", {"revision": "r1", "a": "1"})


def test_bot_token_posts_api():
    request = encode_one(failed(), config("mattermost", address="https://mm.example.com/", token=TOKEN,
                                          channel=CHANNEL))
    assert (request.method, request.url) == ("POST", "https://mm.example.com/api/v4/posts")
    assert request.headers == {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    assert body(request) == {"channel_id": CHANNEL, "message": "", "props": {"attachments": [FAILED]}}


def test_incoming_webhook_with_channel_and_username():
    hook = "https://mm.example.com" + HOOK_PATH
    request = encode_one(failed(), config("mattermost", address=hook, channel="town-square", username="flux"))
    assert (request.url, request.headers) == (hook, {"Content-Type": "application/json"})
    assert body(request) == {"channel": "town-square", "username": "flux", "attachments": [FAILED]}


def test_incoming_webhook_defaults_and_info_colour():
    request = encode_one(event("info", "deployed"), config("mattermost", address="https://mm" + HOOK_PATH))
    assert body(request) == {"attachments": [attachment(
        "good", "GitRepository gitops-system/webapp: ReconciliationSucceeded", "deployed", [])]}


@pytest.mark.parametrize(("values", "error"), [
    ({"address": ""}, "invalid Mattermost URL : 'parse \"\": empty url'"),
    ({"address": "ws://mm.example.com" + HOOK_PATH}, "expected http(s)://"),
    ({"address": "https://mm.example.com"}, "without a token the address must be an incoming webhook URL"),
    ({"address": "https://mm.example.com", "token": TOKEN}, "must be a channel id"),
    ({"address": "https://mm.example.com", "token": TOKEN, "channel": "town-square"}, "got 'town-square'"),
])
def test_config_errors(values, error):
    with pytest.raises(ConfigError) as caught:
        providers.validate(config("mattermost", **values))
    assert error in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_both_modes_deliver_to_capture_servers(sink):
    sink.respond(201, {"id": "post1"})
    providers.deliver(failed(), config("mattermost", address=sink.url, token=TOKEN, channel=CHANNEL), Transport())
    providers.deliver(failed(), config("mattermost", address=sink.url + HOOK_PATH), Transport())
    api, hook = sink.wait_for(2)
    assert (api.path, api.header("Authorization")) == ("/api/v4/posts", f"Bearer {TOKEN}")
    assert api.json() == {"channel_id": CHANNEL, "message": "", "props": {"attachments": [FAILED]}}
    assert (hook.path, hook.header("Authorization")) == (HOOK_PATH, None)
    assert hook.json() == {"attachments": [FAILED]}


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (400, False), (401, False)])
def test_failures_classified(sink, status, retryable):
    sink.respond(status, {"message": "nope"})
    with pytest.raises(DeliveryError) as caught:
        providers.deliver(failed(), config("mattermost", address=sink.url + HOOK_PATH), Transport())
    assert caught.value.retryable is retryable
    assert "xi1bq9ke6jbsdxi8mnz9b1gjbh" not in str(caught.value)


def test_webhook_url_never_in_dead_letters(sink):
    sink.respond(404, "no hook")
    hook = sink.url + HOOK_PATH
    report = dispatch(provider_yaml("mattermost", secretRef={"name": "mm"}) + secret_yaml("mm", address=hook)
                      + alert_yaml("mattermost"), raw_event("error", "boom"))
    [dead] = report.dead_letters
    assert "404" in dead["error"] and "xi1bq9ke6jbsdxi8mnz9b1gjbh" not in json.dumps(dead)


def test_render_and_validate():
    manifests = (provider_yaml("mattermost", address="https://mm.example.com", channel=CHANNEL,
                               secretRef={"name": "mm"}) + secret_yaml("mm", token=TOKEN))
    [result] = render_yaml(manifests, raw_event("error", "boom"))
    [delivery] = result["deliveries"]
    assert delivery["url"] == "https://mm.example.com/api/v4/posts"
    assert delivery["body"]["props"]["attachments"][0]["color"] == "danger"
    [condition] = conditions(load_yaml(manifests))
    assert condition.ready and "`mattermost` is a fluxnotify type" in condition.message
