"""RFB over WebSocket (RFC 6455) on the front door: the upgrade of a `GET /console` request
and the binary-frame byte stream after it, as a sans-I/O machine built on wsproto.

Why wsproto directly and not ``twisted.web.websocket``: Twisted's ``WebSocketResource`` (26.x)
always accepts without naming a subprotocol, and browsers fail a connection that offered
``binary`` (as noVNC, Xen Orchestra and websockify clients do) when the reply names none. It
also only upgrades from inside twisted.web, while our request head is already parsed by
:mod:`consoleproxy.connect` with its own caps and error replies. wsproto is the sans-I/O
library Twisted's support is built on; every frame is still built and parsed by it.

Usage, h11-style::

    stream = WebSocketStream(request)     # raises UpgradeRefused (400/426) before any reply
    stream.accept()                       # queues the 101 reply
    transport.write(stream.data_to_send())
    stream.receive_data(data)             # b"" means EOF
    while (event := stream.next_event()) is not NEED_DATA: ...
    stream.send_data(rfb_bytes)           # one binary message

RFB is a byte stream, so binary messages are never reassembled: each chunk wsproto yields is
passed on as it arrives, and memory is bounded by what one read delivers. Text messages are
refused (close code 1003): RFB has no text form here, and base64 is not offered.

This module imports neither Twisted nor ``socket``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

import h11
from wsproto import ConnectionType
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.handshake import H11Handshake
from wsproto.utilities import LocalProtocolError as WsLocalProtocolError
from wsproto.utilities import RemoteProtocolError as WsRemoteProtocolError

from consoleproxy.connect import LocalProtocolError, RemoteProtocolError, Request, Signal

__all__ = [
    "BINARY_SUBPROTOCOL",
    "CLOSE_IDLE",
    "NEED_DATA",
    "CloseCode",
    "Closed",
    "PongReceived",
    "StreamData",
    "UpgradeRefused",
    "WebSocketEvent",
    "WebSocketSettings",
    "WebSocketStream",
    "choose_subprotocol",
    "origin_allowed",
]

NEED_DATA: Final = Signal.NEED_DATA

#: The subprotocol of raw RFB in binary messages (websockify, noVNC, Xen Orchestra).
BINARY_SUBPROTOCOL: Final = "binary"
#: Close code sent when a viewer gave no input for the idle timeout (private range 4000+).
CLOSE_IDLE: Final = 4000
#: The only WebSocket version there is (RFC 6455 section 4.1).
WEBSOCKET_VERSION: Final = "13"


@dataclass(frozen=True, slots=True)
class WebSocketSettings:
    """Timers of WebSocket console connections."""

    #: Seconds without any byte from the client before a Ping is sent; a client that then
    #: stays silent for as long again is taken as gone and dropped.
    ping_interval: float = 30.0
    #: Seconds without real viewer input (keys, pointer, clipboard; not pings, pongs or
    #: update requests) after which the connection is closed; None (the default) never.
    idle_timeout: float | None = None
    #: Origins (``scheme://host[:port]``) besides the listener's own whose pages may open
    #: consoles, e.g. a Xen Orchestra web UI on another host. See :func:`origin_allowed`.
    allowed_origins: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.ping_interval > 0:
            raise ValueError("ping_interval must be positive")
        if self.idle_timeout is not None and not self.idle_timeout > 0:
            raise ValueError("idle_timeout must be positive or None")


class UpgradeRefused(RemoteProtocolError):
    """The upgrade request is not one we can accept; reply with ``status`` (and ``headers``)."""

    def __init__(self, status: int, reason: str,
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(status, reason)
        self.headers = tuple(headers)


class CloseCode(enum.IntEnum):
    """Close codes this module sends (RFC 6455 section 7.4.1)."""

    NORMAL = 1000
    UNSUPPORTED_DATA = 1003
    ABNORMAL = 1006
    IDLE = CLOSE_IDLE


@dataclass(frozen=True, slots=True)
class StreamData:
    """Bytes of the RFB stream from the client (one chunk of a binary message)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class PongReceived:
    """The client answered a keep-alive Ping (activity, but not viewer input)."""


@dataclass(frozen=True, slots=True)
class Closed:
    """The WebSocket is finished: the peer closed it, broke the protocol, or the TCP stream
    ended. Any close reply is already queued; the adapter drops the connection after
    writing it."""

    code: int
    reason: str
    #: True when the client started the close (or the stream ended); False when we did
    #: because it broke the protocol.
    by_peer: bool


WebSocketEvent = StreamData | PongReceived | Closed


def choose_subprotocol(offered: Iterable[str]) -> str | None:
    """``binary`` when offered, None when nothing was offered; raises UpgradeRefused (400)
    when subprotocols were offered but not ``binary`` (a browser would fail the connection
    anyway, and this way it is told why)."""
    offered = [item.strip() for item in offered if item.strip()]
    if not offered:
        return None
    if BINARY_SUBPROTOCOL in offered:
        return BINARY_SUBPROTOCOL
    raise UpgradeRefused(400, "only the binary WebSocket subprotocol is supported")


_DEFAULT_PORTS: Final = {"http": "80", "https": "443", "ws": "80", "wss": "443"}


def _normal_origin(origin: str) -> tuple[str, str]:
    """(scheme, authority) of an Origin, lower-cased, without the scheme's default port."""
    scheme, _, authority = origin.strip().lower().partition("://")
    authority = authority.rstrip("/")
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None and authority.endswith(f":{default}") and not authority.endswith("]"):
        authority = authority[: -len(default) - 1]
    return scheme, authority


def origin_allowed(request: Request, allowed: frozenset[str] = frozenset()) -> bool:
    """Whether a WebSocket upgrade may come from the page that sent it.

    Browsers always send ``Origin`` with a WebSocket upgrade and let any page open one to
    any host, with whatever credentials it can put in the URL; so a page of another origin
    is refused whatever session it carries, unless the operator listed its origin. Clients
    that are not browsers (Xen Orchestra's server, websockify clients) send no Origin and
    are not affected. ``null`` (sandboxed frames, file: pages) is foreign.
    """
    origin = request.header("origin")
    if origin is None:
        return True
    scheme, authority = _normal_origin(origin)
    if origin.strip() == "null" or not authority:
        return False
    if f"{scheme}://{authority}" in {"://".join(_normal_origin(item)) for item in allowed}:
        return True
    host = (request.header("host") or "").strip().lower()
    if host.endswith(f":{_DEFAULT_PORTS.get(scheme, '')}") and not host.endswith("]"):
        host = host.rsplit(":", 1)[0]
    return authority == host


class WebSocketStream:
    """One accepted WebSocket carrying a byte stream in binary messages, server side."""

    def __init__(self, request: Request, *, allowed_origins: frozenset[str] = frozenset()
                 ) -> None:
        """Check ``request`` as a WebSocket upgrade; raises UpgradeRefused (400, 403 or 426)."""
        if not request.is_websocket_upgrade:
            raise UpgradeRefused(426, "a WebSocket upgrade is required",
                                 [("Upgrade", "websocket")])
        if not origin_allowed(request, allowed_origins):
            raise UpgradeRefused(403, "WebSocket from a foreign origin")
        versions = request.header_values("sec-websocket-version")
        if not versions or versions[0].strip() != WEBSOCKET_VERSION:
            raise UpgradeRefused(426 if versions else 400, "unsupported WebSocket version",
                                 [("Sec-WebSocket-Version", WEBSOCKET_VERSION)])
        offered = ",".join(request.header_values("sec-websocket-protocol")).split(",")
        self.subprotocol = choose_subprotocol(offered)
        self._handshake = H11Handshake(ConnectionType.SERVER)
        headers = [(name.encode("latin-1"), value.encode("latin-1"))
                   for name, value in request.headers]
        if request.header("host") is None:
            # HTTP/1.0 clients may leave Host out; the handshake library insists on one.
            headers.append((b"host", b"console"))
        try:
            self._handshake.initiate_upgrade_connection(headers, request.target)
            list(self._handshake.events())
        except (WsRemoteProtocolError, WsLocalProtocolError, h11.ProtocolError,
                ValueError) as error:
            # wsproto lets h11's own errors through (a duplicate Host, say).
            raise UpgradeRefused(400, f"malformed WebSocket upgrade: {error}") from None
        self._connection: Connection | None = None
        self._outgoing = bytearray()
        self._events: list[WebSocketEvent] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once a Closed event was produced or :meth:`close` was called."""
        return self._closed

    def accept(self) -> None:
        """Queue the 101 reply (naming the chosen subprotocol); call once, first."""
        if self._connection is not None:
            raise LocalProtocolError("the upgrade was already accepted")
        self._outgoing += self._handshake.send(AcceptConnection(subprotocol=self.subprotocol))
        connection = self._handshake.connection
        assert connection is not None
        self._connection = connection

    @property
    def _open(self) -> Connection:
        if self._connection is None:
            raise LocalProtocolError("accept() first")
        return self._connection

    def data_to_send(self) -> bytes:
        """Every byte queued for the client so far."""
        data, self._outgoing = bytes(self._outgoing), bytearray()
        return data

    # -- from the client -------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Bytes from the client; ``b""`` means its TCP stream ended."""
        connection = self._open
        if self._closed:
            return  # after the close handshake, nothing more is read
        if not data:
            connection.receive_data(None)
        else:
            connection.receive_data(data)
        self._pump(connection.events())

    def next_event(self) -> WebSocketEvent | Literal[Signal.NEED_DATA]:
        """The next StreamData, PongReceived or Closed; NEED_DATA when there is none."""
        if self._events:
            return self._events.pop(0)
        return NEED_DATA

    def _pump(self, events: Iterator[Event]) -> None:
        connection = self._open
        for event in events:
            if self._closed:
                break
            if isinstance(event, BytesMessage):
                if event.data:
                    self._events.append(StreamData(bytes(event.data)))
            elif isinstance(event, Ping):
                self._outgoing += connection.send(event.response())
            elif isinstance(event, Pong):
                self._events.append(PongReceived())
            elif isinstance(event, CloseConnection):
                state = connection.state
                if state is ConnectionState.REMOTE_CLOSING:
                    self._outgoing += connection.send(event.response())
                    self._finish(event.code, event.reason or "", by_peer=True)
                elif state is ConnectionState.OPEN:
                    # wsproto found a protocol error (the event carries its code): say why.
                    self._outgoing += connection.send(CloseConnection(event.code, event.reason))
                    self._finish(event.code, event.reason or "", by_peer=False)
                else:  # the TCP stream ended without a Close frame (1006)
                    self._finish(event.code, event.reason or "", by_peer=True)
            elif isinstance(event, TextMessage):
                self.close(CloseCode.UNSUPPORTED_DATA, "RFB travels in binary messages")
                self._events.append(Closed(CloseCode.UNSUPPORTED_DATA,
                                           "text message received", by_peer=False))

    def _finish(self, code: int, reason: str, *, by_peer: bool) -> None:
        self._closed = True
        self._events.append(Closed(int(code), reason, by_peer))

    # -- to the client ---------------------------------------------------------------------

    def send_data(self, data: bytes) -> None:
        """Queue ``data`` as one binary message (dropped once closing: the peer is leaving)."""
        connection = self._open
        if data and not self._closed and connection.state is ConnectionState.OPEN:
            self._outgoing += connection.send(BytesMessage(data))

    def ping(self, payload: bytes = b"") -> None:
        """Queue a keep-alive Ping."""
        connection = self._open
        if not self._closed and connection.state is ConnectionState.OPEN:
            self._outgoing += connection.send(Ping(payload))

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> None:
        """Queue a Close frame (once); the adapter drops the connection after writing it."""
        connection = self._open
        self._closed = True
        if connection.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
            self._outgoing += connection.send(CloseConnection(code, reason[:120] or None))

