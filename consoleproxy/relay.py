"""Joins two connections byte for byte: the client's (after CONNECT) and the console's server.

Each side's transport is registered as the producer feeding the other, so a slow reader on
either side pauses reading on the other (back-pressure both ways) and memory stays bounded.
An end of input on one side is passed on as a half-close on the other; the relay ends when
both directions are done or either connection is lost.

An end may read before it is joined (the console server greets as soon as it is connected,
the client may send right after its request): those bytes, and an end of input, are kept and
passed on first, in order, when :meth:`RelayEnd.join` pairs the two ends.

:func:`hand_off` then gives a joined plain TCP tunnel to a :class:`RelayThread`, which relays
it by the same rules off the reactor, and hands the connections back when the tunnel ends.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet import tcp
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from zope.interface import implementer  # type: ignore[import-untyped, unused-ignore]

from consoleproxy.relaythread import READ_SIZE, RelayThread
from vncterm.transport import no_delay, write_now

__all__ = ["RelayEnd", "hand_off"]


@implementer(IHalfCloseableProtocol)
class RelayEnd(Protocol):
    """One side of a relay: what it reads is written to its peer's transport."""

    def __init__(
        self,
        on_lost: Callable[[RelayEnd, Failure], None] | None = None,
        *,
        early: bytes = b"",
    ) -> None:
        """``early``: bytes this side already read elsewhere, forwarded before any other."""
        self.peer: RelayEnd | None = None
        #: Bytes read from this side's transport (early bytes included).
        self.bytes_read = len(early)
        self._on_lost = on_lost
        self._pending: list[bytes] = [early] if early else []
        self._read_closed = False
        self._lost = False

    @property
    def lost(self) -> bool:
        """True once this side's connection is gone."""
        return self._lost

    def join(self, peer: RelayEnd) -> None:
        """Pair with ``peer`` (both transports connected) and pass on what each read so far."""
        self.peer = peer
        peer.peer = self
        assert self.transport is not None and peer.transport is not None
        for transport in (self.transport, peer.transport):
            no_delay(transport)
            if isinstance(transport, tcp.Connection):
                # Bigger reads: fewer trips through Python per megabyte relayed. It is also
                # the write buffer size past which the other side is paused.
                transport.bufferSize = READ_SIZE
        _any(self.transport).registerProducer(peer.transport, True)
        _any(peer.transport).registerProducer(self.transport, True)
        for end in (self, peer):
            pending, end._pending = end._pending, []
            if pending and not peer._lost and not self._lost:
                end._forward(b"".join(pending))
        for end in (self, peer):
            if end._read_closed and not end._lost:
                end._pass_on_end_of_input()

    def _forward(self, data: bytes) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer._lost:
            write_now(peer.transport, data)

    def dataReceived(self, data: bytes) -> None:
        self.bytes_read += len(data)
        if self.peer is None:
            self._pending.append(data)
        else:
            self._forward(data)

    def readConnectionLost(self) -> None:
        self._read_closed = True
        if self.peer is not None:
            self._pass_on_end_of_input()

    def _pass_on_end_of_input(self) -> None:
        peer = self.peer
        if peer is None or peer.transport is None or peer._lost:
            return
        if peer._read_closed:
            # Both directions are finished: close both.
            assert self.transport is not None
            _any(self.transport).loseConnection()
            _any(peer.transport).loseConnection()
            return
        half_close = getattr(peer.transport, "loseWriteConnection", None)
        if half_close is not None:
            half_close()
        else:
            _any(peer.transport).loseConnection()

    def writeConnectionLost(self) -> None:
        """Our write side was closed after the peer's end of input: nothing to do."""

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        if self._lost:
            return
        self._lost = True
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer._lost:
            _any(peer.transport).unregisterProducer()
            _any(peer.transport).loseConnection()
        if self._on_lost is not None:
            self._on_lost(self, reason)


def hand_off(relays: RelayThread, client: RelayEnd, server: RelayEnd,
             client_bytes: Callable[[int], None]) -> bool:
    """Give a joined tunnel to ``relays`` if both ends are plain sockets with nothing held.

    False (and the reactor keeps relaying) for TLS or any other wrapped transport, for a side
    already closing or half-closed, or while Twisted holds unsent bytes: only the sockets are
    handed over, so nothing may be left in Twisted's buffers. When the thread hands the tunnel
    back, the bytes it read are added to the ends' counts, ``client_bytes`` is told the
    client's, and both connections are closed as the reactor would close them.
    """
    transports = (client.transport, server.transport)
    for end, transport in ((client, transports[0]), (server, transports[1])):
        if (
            not isinstance(transport, tcp.Connection)
            or end.lost
            or end._read_closed
            or not transport.connected
            or transport.disconnecting
            or transport.dataBuffer
            or transport._tempDataBuffer
        ):
            return False
    for transport in transports:
        _any(transport).stopReading()
        _any(transport).stopWriting()
    sockets = (_any(transports[0]).socket, _any(transports[1]).socket)
    if relays.adopt(sockets[0], sockets[1], _HandBack(client, server, client_bytes)):
        return True
    for transport in transports:
        _any(transport).startReading()
    return False


class _HandBack:
    """What a tunnel's end on the relay thread does on the reactor (a small object rather
    than a closure: one is held per idle tunnel)."""

    __slots__ = ("client", "client_bytes", "server")

    def __init__(self, client: RelayEnd, server: RelayEnd,
                 client_bytes: Callable[[int], None]) -> None:
        self.client = client
        self.server = server
        self.client_bytes = client_bytes

    def __call__(self, client_count: int, server_count: int,
                 error: BaseException | None) -> None:
        self.client.bytes_read += client_count
        self.server.bytes_read += server_count
        self.client_bytes(client_count)
        reason = Failure(ConnectionDone() if error is None else ConnectionLost(str(error)))
        for end in (self.client, self.server):
            # What the reactor does on a lost connection: the socket is closed here, after
            # the thread let go of it, and the protocols are told.
            _any(end.transport).connectionLost(reason)


def _any(transport: object) -> Any:
    # Twisted's interfaces declare methods without self, which mypy cannot check without
    # the zope plugin.
    return transport
