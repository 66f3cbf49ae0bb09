"""The suite's own guard: nothing in a test, or in a Python child process, reaches a public host."""

import socket
import subprocess
import sys

import pytest
from sitecustomize import PublicHostRefused


def test_a_public_address_is_refused_before_any_packet():
    with socket.socket() as sock, pytest.raises(PublicHostRefused, match="203.0.113.7"):
        sock.connect(("203.0.113.7", 443))


def test_a_child_process_is_guarded_too():
    script = "import socket\ntry:\n    socket.create_connection(('203.0.113.7', 443), timeout=1)\nexcept OSError as e:\n    print(type(e).__name__)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "PublicHostRefused", done.stderr


def test_loopback_is_allowed(sink):
    with socket.create_connection(("127.0.0.1", sink.server.server_address[1]), timeout=5):
        pass
