"""write_now: bytes reach the socket at once, in order, without a reactor turn; no_delay."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from twisted.internet import tcp
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactor, StringTransport

from vncterm.transport import no_delay, write_now


@pytest.fixture
def connection() -> Iterator[tuple[tcp.Connection, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    conn = tcp.Connection(ours, Protocol(), MemoryReactor())  # type: ignore[no-untyped-call]
    conn.connected = True
    yield conn, theirs
    ours.close()
    theirs.close()


def test_sent_immediately_when_nothing_is_buffered(
    connection: tuple[tcp.Connection, socket.socket],
) -> None:
    """With an empty buffer the bytes are on the socket before the reactor runs."""
    conn, peer = connection
    write_now(conn, b"hello")
    assert peer.recv(100) == b"hello"
    assert not conn.dataBuffer and not conn._tempDataBuffer


def test_order_kept_behind_buffered_bytes(connection: tuple[tcp.Connection, socket.socket]) -> None:
    """Once something waits in the buffer, later bytes queue behind it."""
    conn, peer = connection
    conn.write(b"first ")
    write_now(conn, b"second")
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(100)
    assert b"".join(conn._tempDataBuffer) == b"first second"


def test_what_the_socket_cannot_take_is_buffered_in_order(
    connection: tuple[tcp.Connection, socket.socket],
) -> None:
    conn, peer = connection
    data = bytes(range(256)) * 40_000  # 10 MB: more than any socket buffer
    write_now(conn, data)
    queued = b"".join(conn._tempDataBuffer)
    assert queued and len(queued) < len(data)
    sent = len(data) - len(queued)
    assert data[sent:] == queued
    received = bytearray()
    peer.setblocking(False)
    while len(received) < sent:
        received += peer.recv(1 << 20)
    assert bytes(received) == data[:sent]


def test_other_transports_use_write() -> None:
    """TLS or in-memory transports are written to normally."""
    transport = StringTransport()
    write_now(transport, b"data")
    assert transport.value() == b"data"


@pytest.fixture
def tcp_connection() -> Iterator[tuple[tcp.Connection, socket.socket]]:
    listener = socket.create_server(("127.0.0.1", 0))
    ours = socket.create_connection(listener.getsockname())
    theirs, _ = listener.accept()
    listener.close()
    conn = tcp.Connection(ours, Protocol(), MemoryReactor())  # type: ignore[no-untyped-call]
    conn.connected = True
    yield conn, theirs
    ours.close()
    theirs.close()


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_no_delay_turns_nagle_off(tcp_connection: tuple[tcp.Connection, socket.socket]) -> None:
    conn, _ = tcp_connection
    assert _nodelay(conn.socket) == 0
    no_delay(conn)
    assert _nodelay(conn.socket) != 0


def test_no_delay_reaches_the_tcp_connection_under_tls(
    tcp_connection: tuple[tcp.Connection, socket.socket],
) -> None:
    """TLS (or any wrapper) keeps the TCP transport as its ``transport``: that one is set."""
    conn, _ = tcp_connection

    class Wrapper:
        transport = conn

    no_delay(Wrapper())
    assert _nodelay(conn.socket) != 0


def test_no_delay_leaves_other_transports_alone(
    connection: tuple[tcp.Connection, socket.socket],
) -> None:
    """A UNIX socket has no Nagle to turn off; an in-memory transport has no socket at all."""
    conn, _ = connection
    no_delay(conn)
    no_delay(StringTransport())
    no_delay(None)
