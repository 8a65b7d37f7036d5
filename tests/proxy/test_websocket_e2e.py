"""End to end on 127.0.0.1: a real `consoleproxy serve` (the embedded demo) answers WebSocket
clients the way websockify's and Xen Orchestra's connect: log in with the XenAPI binding, find
the console's location, then `GET /console` offering ``binary`` with the session in a cookie,
over plain TCP and TLS; RFB comes back in binary frames and a whole handshake works."""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import XenAPI

from tests.proxy.serving import consoleproxy
from tests.proxy.wsclient import Frames, open_websocket

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 20.0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """The embedded demo on free plain and TLS ports: {"http": port, "https": port}."""
    directory = tmp_path_factory.mktemp("ws-demo")
    with consoleproxy(
        ["--listen", "tcp:0:interface=127.0.0.1", "--listen", "ssl:0:interface=127.0.0.1",
         "--state-dir", str(directory / "state")],
        directory, listeners=2, cwd=REPO, env={**os.environ, "SHELL": "/bin/sh"},
    ) as ports:
        yield ports


def find_console(port: int) -> tuple[XenAPI.Session, str]:
    """Xen Orchestra's discovery: login, the VM's rfb console, its location's path and query."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the binding's own deprecation noise
        session = XenAPI.Session(f"https://127.0.0.1:{port}/", ignore_ssl=True)
    session.xenapi.login_with_password("root", "demo", "1.0", "ws-e2e")
    (vm,) = session.xenapi.VM.get_by_name_label("demo")
    for console in session.xenapi.VM.get_consoles(vm):
        if session.xenapi.console.get_protocol(console) == "rfb":
            location = urlsplit(session.xenapi.console.get_location(console))
            return session, f"{location.path}?{location.query}"
    raise AssertionError("the demo has no rfb console")


def read_frames(sock: socket.socket, frames: Frames, wanted: int) -> bytes:
    deadline = time.monotonic() + DEADLINE
    while len(frames.data) < wanted and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        frames.feed(chunk)
    return bytes(frames.data)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_websocket_client_with_cookie_session_gets_rfb(demo: dict[str, int], scheme: str) -> None:
    """Offering binary with a cookie session, over TCP and TLS, gives RFB in binary frames
    and a full RFB 3.8 handshake up to ServerInit."""
    session, target = find_console(demo["https"])
    try:
        sock, head, frames = open_websocket(demo[scheme], target, tls=scheme == "https",
                                            cookie=f"session_id={session._session}")
        with sock:
            assert head.startswith(b"HTTP/1.1 101 "), head
            assert b"Sec-WebSocket-Protocol: binary\r\n" in head
            assert read_frames(sock, frames, 12) == b"RFB 003.008\n"
            sock.sendall(frames.binary(b"RFB 003.008\n"))
            assert read_frames(sock, frames, 14)[12:] == b"\x01\x01"  # security None
            sock.sendall(frames.binary(b"\x01"))
            assert read_frames(sock, frames, 18)[14:] == b"\x00\x00\x00\x00"
            sock.sendall(frames.binary(b"\x01"))  # ClientInit, shared
            server_init = read_frames(sock, frames, 18 + 24)[18:]
            width = int.from_bytes(server_init[0:2], "big")
            height = int.from_bytes(server_init[2:4], "big")
            assert (width, height) == (640, 384)
            sock.sendall(frames.close())
    finally:
        session.xenapi.session.logout()
        session("close")()


def test_errors_come_before_the_upgrade(demo: dict[str, int]) -> None:
    """Without a session the client gets 401 with the Basic challenge, never a 101."""
    session, target = find_console(demo["https"])
    session.xenapi.session.logout()
    session("close")()
    sock, head, _ = open_websocket(demo["http"], target.split("&session_id")[0])
    with sock:
        assert head.startswith(b"HTTP/1.1 401 Unauthorized\r\n")
        assert b'WWW-Authenticate: Basic realm="connect_console"' in head
        assert sock.recv(10) == b""  # and the connection is closed
