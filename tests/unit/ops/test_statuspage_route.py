"""The status page on the receiver's own port (issue 24 point 2): /status, /status.json and
POST /status/replay, for loopback clients only, with the Host check against DNS rebinding."""

from __future__ import annotations

import http.client
import json
import re

import pytest

from fluxnotify.ops.local import LocalStack


@pytest.fixture
def stack(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("")
    local = LocalStack([str(config)], port=0, database=str(tmp_path / "q.db"), workers=0).start()
    letter = json.dumps({"event": {"involvedObject": {"kind": "Kustomization", "namespace": "ns", "name": "a"}},
                         "targets": ["ns/a"], "provider": "ns/p", "type": "generic", "error": "HTTP 500",
                         "reason": "permanent failure", "failed_at": "2024-05-01T10:00:00Z", "id": "e1"})
    local.letter_id = local.dead.send(letter)
    yield local
    local.stop()


def request(stack, method: str, path: str, body: bytes = b"", host: str | None = None):
    port = stack.server.server_address[1]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Host": host or f"127.0.0.1:{port}", "Content-Type": "application/x-www-form-urlencoded"}
    connection.request(method, path, body=body, headers=headers)
    answer = connection.getresponse()
    result = answer.status, dict(answer.getheaders()), answer.read().decode()
    connection.close()
    return result


def test_the_page_and_its_json_are_on_the_receivers_port(stack):
    status, headers, html = request(stack, "GET", "/status")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["X-Frame-Options"] == "DENY" and "default-src 'none'" in headers["Content-Security-Policy"]
    assert 'action="/status/replay"' in html
    status, _, body = request(stack, "GET", "/status.json")
    assert status == 200 and json.loads(body)["queue"]["deadLetters"] == 1
    assert stack.status_page.url == f"http://127.0.0.1:{stack.server.server_address[1]}/status"
    # The receiver itself is unchanged around it.
    assert json.loads(request(stack, "GET", "/healthz")[2])["store"] == "writable"  # no workers here: 503
    assert request(stack, "GET", "/")[0] == 405


def test_replay_from_the_page_needs_its_csrf_token_and_redirects_to_it(stack):
    html = request(stack, "GET", "/status")[2]
    token = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    form = f"id={stack.letter_id}&csrf="
    assert request(stack, "POST", "/status/replay", (form + "wrong").encode())[0] == 403
    status, headers, _ = request(stack, "POST", "/status/replay", (form + token).encode())
    assert status == 303 and headers["Location"] == f"/status?replayed={stack.letter_id}"
    assert stack.dead.count() == 0 and stack.queue.count() == 1
    page = request(stack, "GET", headers["Location"])[2]  # no dispatcher here: it waits
    flash = re.search(r'<div id="flash" class="flash wait"[^>]*>([^<]+)</div>', page).group(1)
    assert flash == (f"Replayed dead letter {stack.letter_id} (Kustomization/ns/a → ns/p): queued again; "
                     "1 waiting for the dispatcher.")
    assert json.loads(request(stack, "GET", "/status.json")[2])["queue"]["deadLetters"] == 0
    assert request(stack, "GET", "/status/replay")[0] == 405


def test_replay_all_letters_of_a_provider(stack):
    other = json.dumps({"event": {"involvedObject": {"kind": "Kustomization", "namespace": "ns", "name": "b"}},
                        "targets": ["ns/b"], "provider": "ns/q", "error": "HTTP 500", "reason": "permanent failure"})
    stack.dead.send(other)
    stack.dead.send(json.loads(json.dumps(other)))  # a second letter of ns/q
    html = request(stack, "GET", "/status")[2]
    assert 'id="replay-all-ns/q">Replay all 2 of ns/q' in html and 'id="replay-all-ns/p">Replay all 1 of ns/p' in html
    token = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    assert request(stack, "POST", "/status/replay", b"provider=ns%2Fq&csrf=wrong")[0] == 403
    assert stack.dead.count() == 3
    status, headers, _ = request(stack, "POST", "/status/replay", f"provider=ns%2Fq&csrf={token}".encode())
    assert status == 303 and headers["Location"].startswith("/status?replayed=all-")
    assert stack.dead.count() == 1 and stack.queue.count() == 2  # ns/p's letter stays
    page = request(stack, "GET", headers["Location"])[2]
    assert "Replayed 2 dead letters of ns/q: queued again; 2 waiting for the dispatcher." in page
    status, _, body = request(stack, "POST", "/status/replay", f"provider=ns%2Fq&csrf={token}".encode())
    assert status == 404 and "no dead letter of Provider ns/q" in body


def test_an_unknown_replay_key_says_so(stack):
    page = request(stack, "GET", "/status?replayed=%3Cb%3Enope")[2]
    assert "replay &lt;b&gt;nope: unknown here" in page


def test_another_host_name_is_refused_against_dns_rebinding(stack):
    status, _, body = request(stack, "GET", "/status.json", host="evil.example:80")
    assert status == 421 and "Host" in json.loads(body)["error"]
    port = stack.server.server_address[1]
    assert request(stack, "GET", "/status", host=f"localhost:{port}")[0] == 200


@pytest.mark.parametrize("peer", ["10.0.0.7", "192.168.1.20", "::ffff:10.0.0.7", "2001:db8::1", "", "not-an-ip"])
def test_only_loopback_clients_see_the_page(stack, peer):
    page = stack.status_page
    host = {"host": f"127.0.0.1:{page.port}"}
    answer = page.answer("GET", "/status.json", host, b"", peer)
    assert answer.status == 403 and "loopback" in json.loads(answer.body)["error"]
    for loopback in ("127.0.0.1", "127.0.0.5", "::1", "::ffff:127.0.0.1"):
        assert page.answer("GET", "/status.json", host, b"", loopback).status == 200


def test_an_empty_status_addr_means_no_page_and_no_route(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("")
    stack = LocalStack([str(config)], port=0, database=str(tmp_path / "q.db"), workers=0, status_addr="").start()
    try:
        assert stack.status_page is None
        assert request(stack, "GET", "/status")[0] == 405  # the receiver's answer to any GET
    finally:
        stack.stop()
