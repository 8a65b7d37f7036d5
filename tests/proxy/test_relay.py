"""Relay tests without sockets: byte-exact large payloads, back-pressure and half-close."""

from __future__ import annotations

import os

from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure
from twisted.test import iosim

from consoleproxy.relay import RelayEnd
from tests.proxy.helpers import RecordingTransport


class Collector(Protocol):
    """Keeps what it receives."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.lost = False

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = Failure(ConnectionDone())) -> None:  # noqa: B008
        self.lost = True


class FlowTransport(RecordingTransport):
    """Pauses its producer above ``high`` buffered bytes and resumes it when drained."""

    def __init__(self, high: int) -> None:
        super().__init__()
        self.high = high
        self.buffered = 0

    def write(self, data: bytes) -> None:
        super().write(data)
        self.buffered += len(data)
        if self.buffered > self.high and self.producer is not None:
            self.producer.pauseProducing()

    def drain(self) -> bytes:
        data = self.value()
        self.clear()
        self.buffered = 0
        if self.producer is not None:
            self.producer.resumeProducing()
        return data


def relay_pair() -> tuple[Collector, Collector, iosim.IOPump, iosim.IOPump, RelayEnd, RelayEnd]:
    client, client_end = Collector(), RelayEnd()
    server, server_end = Collector(), RelayEnd()
    client_pump = iosim.connect(
        client_end, iosim.FakeTransport(client_end, True),
        client, iosim.FakeTransport(client, False),
    )
    server_pump = iosim.connect(
        server, iosim.FakeTransport(server, True),
        server_end, iosim.FakeTransport(server_end, False),
    )
    client_end.join(server_end)
    return client, server, client_pump, server_pump, client_end, server_end


def pump_all(*pumps: iosim.IOPump) -> None:
    while any(pump.pump() for pump in pumps):
        pass


def test_large_payloads_cross_both_ways_byte_exact() -> None:
    """Megabytes written in uneven chunks both ways arrive whole and in order."""
    client, server, client_pump, server_pump, client_end, server_end = relay_pair()
    upstream, downstream = os.urandom(3 << 20), os.urandom(2 << 20)
    for start in range(0, len(upstream), 65521):
        client.transport.write(upstream[start : start + 65521])
        server.transport.write(downstream[start // 3 * 2 : (start + 65521) // 3 * 2])
        pump_all(client_pump, server_pump)
    server.transport.write(downstream[len(upstream) // 3 * 2 :])
    pump_all(client_pump, server_pump)
    assert bytes(server.received) == upstream
    assert bytes(client.received) == downstream
    assert client_end.bytes_read == len(upstream)
    assert server_end.bytes_read == len(downstream)


def test_producers_are_registered_both_ways() -> None:
    """Each side's transport is the streaming producer of the other."""
    client_end, server_end = RelayEnd(), RelayEnd()
    client_transport, server_transport = RecordingTransport(), RecordingTransport()
    client_end.makeConnection(client_transport)
    server_end.makeConnection(server_transport)
    client_end.join(server_end)
    assert client_transport.producer is server_transport and client_transport.streaming
    assert server_transport.producer is client_transport and server_transport.streaming


def test_a_full_side_pauses_reading_on_the_other_until_drained() -> None:
    """When the server side's buffer is full the client is paused, and resumed once drained."""
    client_end, server_end = RelayEnd(), RelayEnd()
    client_transport, server_transport = RecordingTransport(), FlowTransport(high=64 * 1024)
    client_end.makeConnection(client_transport)
    server_end.makeConnection(server_transport)
    client_end.join(server_end)
    payload = os.urandom(1 << 20)
    received = bytearray()
    offset = 0
    while offset < len(payload):
        # The client only "reads from the socket" while it is not paused.
        while client_transport.producerState == "producing" and offset < len(payload):
            client_end.dataReceived(payload[offset : offset + 16384])
            offset += 16384
        assert client_transport.producerState == "paused" or offset >= len(payload)
        assert server_transport.buffered <= 64 * 1024 + 16384
        received += server_transport.drain()
        assert client_transport.producerState == "producing"
    received += server_transport.drain()
    assert bytes(received) == payload


def test_bytes_read_before_join_are_forwarded_first() -> None:
    """A greeting read before the ends are joined reaches the client before anything else."""
    client_end, server_end = RelayEnd(early=b"request-tail|"), RelayEnd()
    client_transport, server_transport = RecordingTransport(), RecordingTransport()
    server_end.makeConnection(server_transport)
    server_end.dataReceived(b"RFB 003.008\n")
    client_end.makeConnection(client_transport)
    client_end.join(server_end)
    client_end.dataReceived(b"RFB 003.008\n")
    server_end.dataReceived(b"\x01\x01")
    assert client_transport.value() == b"RFB 003.008\n\x01\x01"
    assert server_transport.value() == b"request-tail|RFB 003.008\n"


def test_half_close_is_passed_on_and_the_other_way_keeps_flowing() -> None:
    """A client's end of input half-closes the server side; replies still reach the client."""
    client_end, server_end = RelayEnd(), RelayEnd()
    client_transport, server_transport = RecordingTransport(), RecordingTransport()
    client_end.makeConnection(client_transport)
    server_end.makeConnection(server_transport)
    client_end.join(server_end)
    client_end.dataReceived(b"query")
    client_end.readConnectionLost()
    assert server_transport.write_closed and not server_transport.disconnecting
    server_end.dataReceived(b"answer")
    assert client_transport.value() == b"answer"
    server_end.readConnectionLost()
    assert client_transport.disconnecting and server_transport.disconnecting


def test_losing_one_side_closes_the_other() -> None:
    """When one connection is lost the other is closed after its pending bytes."""
    lost: list[RelayEnd] = []
    client_end, server_end = RelayEnd(), RelayEnd(lambda end, reason: lost.append(end))
    client_transport, server_transport = RecordingTransport(), RecordingTransport()
    client_end.makeConnection(client_transport)
    server_end.makeConnection(server_transport)
    client_end.join(server_end)
    server_end.connectionLost(Failure(ConnectionDone()))
    assert client_transport.disconnecting
    assert client_transport.producer is None
    assert lost == [server_end]


def test_relay_over_iosim_closes_both_when_the_server_leaves() -> None:
    """A server closing its connection ends the client's connection too."""
    client, server, client_pump, server_pump, _, _ = relay_pair()
    server.transport.write(b"bye")
    server.transport.loseConnection()
    pump_all(client_pump, server_pump)
    assert bytes(client.received) == b"bye"
    assert client.lost
