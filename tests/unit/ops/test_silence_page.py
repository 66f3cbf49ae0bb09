"""The status page's silences section and its Expire form (CSRF-protected like Replay), over HTTP."""

from __future__ import annotations

import http.client
import re
import time

import pytest

from fluxnotify.ops.local import LocalStack
from fluxnotify.ops.statuspage import StatusServer
from fluxnotify.queue.sqlite import SqliteDatabase
from fluxnotify.state.silences import SqliteSilences, added, new_silence, parse_matchers


@pytest.fixture
def stack(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("")
    local = LocalStack([str(config)], port=0, database=str(tmp_path / "q.db"), workers=0).start()
    yield local
    local.stop()


def _add(db_path: str, name: str, comment: str = "") -> str:
    silence = new_silence(parse_matchers([f"namespace=apps,name={name}"]), "", time.time() + 3600, comment, "ana")
    SqliteSilences(SqliteDatabase(db_path)).change(lambda current: added(current, silence, time.time()))
    return silence.id


def request(port: int, method: str, path: str, body: bytes = b""):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers={"Host": f"127.0.0.1:{port}",
                                                         "Content-Type": "application/x-www-form-urlencoded"})
    answer = connection.getresponse()
    result = answer.status, dict(answer.getheaders()), answer.read().decode()
    connection.close()
    return result


def test_active_silences_are_listed_and_expired_with_the_csrf_token(stack, tmp_path):
    port = stack.server.server_address[1]
    status, _, html = request(port, "GET", "/status")
    assert status == 200 and "Silences (0 active)" in html and "no active silence" in html
    first = _add(str(tmp_path / "q.db"), "web-*", comment="<b>db</b> migration")
    second = _add(str(tmp_path / "q.db"), "api")
    html = request(port, "GET", "/status")[2]
    assert "Silences (2 active)" in html
    row = re.search(rf'<tr data-silence="{first}">(.*?)</tr>', html).group(1)
    assert "namespace=apps,name=web-*" in row and "&lt;b&gt;db&lt;/b&gt; migration" in row and "ana" in row
    assert f'id="expire-{first}"' in row and 'action="/status/expire-silence"' in row
    token = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
    form = f"id={first}&csrf="
    assert request(port, "POST", "/status/expire-silence", (form + "wrong").encode())[0] == 403
    assert request(port, "POST", "/status/expire-silence", f"id={first}".encode())[0] == 403
    assert request(port, "GET", "/status/expire-silence")[0] == 405
    assert "Silences (2 active)" in request(port, "GET", "/status")[2]  # nothing changed
    status, headers, _ = request(port, "POST", "/status/expire-silence", (form + token).encode())
    assert status == 303 and headers["Location"] == "/status"
    html = request(port, "GET", "/status")[2]
    assert "Silences (1 active)" in html and first not in html and second in html
    status, _, body = request(port, "POST", "/status/expire-silence", (form + token).encode())
    assert status == 404 and "has ended already" in body
    assert request(port, "POST", "/status/expire-silence", f"id=&csrf={token}".encode())[0] == 400
    assert request(port, "POST", "/status/expire-silence", b"x" * 5000)[0] == 413


def test_the_separate_status_address_has_the_form_too(tmp_path):
    path = str(tmp_path / "q.db")
    silence_id = _add(path, "web")
    server = StatusServer(SqliteDatabase(path)).start()
    try:
        html = request(server.port, "GET", "/")[2]
        assert 'action="/expire-silence"' in html
        token = re.search(r'name="csrf" value="([^"]+)"', html).group(1)
        status, headers, _ = request(server.port, "POST", "/expire-silence", f"id={silence_id}&csrf={token}".encode())
        assert status == 303 and headers["Location"] == "/"
        assert "Silences (0 active)" in request(server.port, "GET", "/")[2]
    finally:
        server.stop()
