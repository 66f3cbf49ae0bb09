"""Test traffic goes to loopback only: a connect() to any other address raises at once.

The test suite imports this module; child processes (serve, dispatcher workers, helpers) get
it through PYTHONPATH, as Python imports ``sitecustomize`` at start-up when it is found.
"""

import ipaddress
import socket

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


class PublicHostRefused(OSError):
    pass


def _check(sock, address):
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    host = str(address[0])
    try:
        loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise PublicHostRefused(f"test traffic to a non-loopback host refused: {host}")


def _guarded_connect(self, address):
    _check(self, address)
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    _check(self, address)
    return _connect_ex(self, address)


if socket.socket.connect is _connect:  # once per process
    socket.socket.connect = _guarded_connect
    socket.socket.connect_ex = _guarded_connect_ex
