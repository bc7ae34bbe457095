"""DNS rebinding: the server refuses a WebSocket whose Host header names another site.

A page on `rebind.example` whose DNS record is switched to 127.0.0.1 makes the victim's browser
connect to this server with `Host: rebind.example` (and a matching Origin, so CORS does not help).
`server.allowedHosts` in `.streamlit/config.toml` must refuse it, and still accept the loopback
names a laptop user types.
"""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path

import pytest

from tests.browser import start_server


def connect(url: str, host: str) -> int:
    """HTTP status of a WebSocket handshake to the app with this Host and Origin (101 = open)."""
    port = int(url.rsplit(":", 1)[1])
    request = (
        "GET /_stcore/stream HTTP/1.1\r\n"
        f"Host: {host}\r\nOrigin: http://{host}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request.encode())
        status_line = s.makefile("rb").readline().decode()
    return int(status_line.split()[1])  # "HTTP/1.1 101 Switching Protocols"


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory):
    srv = start_server(Path(tmp_path_factory.mktemp("hosts")))
    yield srv.url
    srv.process.terminate()
    srv.process.wait(timeout=20)


def test_rebound_host_is_refused(server_url: str) -> None:
    port = server_url.rsplit(":", 1)[1]
    assert connect(server_url, f"rebind.example:{port}") == 403


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_loopback_names_are_accepted(server_url: str, name: str) -> None:
    port = server_url.rsplit(":", 1)[1]
    assert connect(server_url, f"{name}:{port}") == 101
