"""write_now: bytes reach the socket at once, in order, without a reactor turn."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from twisted.internet import tcp
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactor, StringTransport

from vncterm.transport import write_now


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


def test_other_transports_use_write() -> None:
    """TLS or in-memory transports are written to normally."""
    transport = StringTransport()
    write_now(transport, b"data")
    assert transport.value() == b"data"
