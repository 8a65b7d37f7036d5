"""A small WebSocket client for tests, built on wsproto (as websockify's and Xen Orchestra's
clients speak it: a GET /console upgrade offering the ``binary`` subprotocol)."""

from __future__ import annotations

import base64
import os
import socket
import ssl
from dataclasses import dataclass, field

from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
#: The accept token RFC 6455 section 1.3 gives for SAMPLE_KEY.
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def upgrade_request(target: str, *, cookie: str | None = None, protocols: str | None = "binary",
                    version: str | None = "13", key: str | None = SAMPLE_KEY,
                    origin: str | None = None, host: str = "127.0.0.1",
                    extra: str = "") -> bytes:
    """A browser-like WebSocket upgrade request head."""
    lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
             "Connection: Upgrade"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if protocols is not None:
        lines.append(f"Sec-WebSocket-Protocol: {protocols}")
    if cookie is not None:
        lines.append(f"Cookie: {cookie}")
    if origin is not None:
        lines.append(f"Origin: {origin}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


@dataclass
class Frames:
    """The client's side of the framing: decodes what the server sent, encodes what we send."""

    connection: Connection = field(default_factory=lambda: Connection(ConnectionType.CLIENT))
    data: bytearray = field(default_factory=bytearray)
    events: list[Event] = field(default_factory=list)

    def feed(self, raw: bytes) -> None:
        self.connection.receive_data(raw)
        for event in self.connection.events():
            if isinstance(event, BytesMessage):
                self.data += event.data
            self.events.append(event)

    def binary(self, data: bytes) -> bytes:
        return self.connection.send(BytesMessage(data))

    def text(self, data: str) -> bytes:
        return self.connection.send(TextMessage(data))

    def ping(self, payload: bytes = b"") -> bytes:
        return self.connection.send(Ping(payload))

    def pong(self, payload: bytes = b"") -> bytes:
        return self.connection.send(Pong(payload))

    def close(self, code: int = 1000) -> bytes:
        return self.connection.send(CloseConnection(code))

    def of(self, kind: type) -> list[Event]:
        return [event for event in self.events if isinstance(event, kind)]


def split_reply(raw: bytes) -> tuple[bytes, bytes]:
    """(the HTTP reply head up to its blank line, the bytes after it)."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def open_websocket(port: int, target: str, *, cookie: str | None = None, tls: bool = False,
                   timeout: float = 20.0) -> tuple[socket.socket, bytes, Frames]:
    """Connect, upgrade, and return the socket, the reply head and the framing state (fed
    with whatever arrived after the head)."""
    sock: socket.socket = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        sock = context.wrap_socket(sock)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(upgrade_request(target, cookie=cookie, key=key, host=f"127.0.0.1:{port}"))
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    head, rest = split_reply(received)
    frames = Frames()
    if head.startswith(b"HTTP/1.1 101"):
        frames.feed(rest)
    return sock, head, frames
