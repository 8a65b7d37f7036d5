"""Console sources in memory: the serial socket source reconnects with back-off."""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IProtocolFactory
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from vncterm.backends.stream import StreamSource


@dataclass
class RecordingSink:
    """A console sink that records what the source reported."""

    output: bytearray = field(default_factory=bytearray)
    events: list[str] = field(default_factory=list)

    def console_output(self, data: bytes) -> None:
        self.output += data

    def console_connected(self, description: str) -> None:
        self.events.append("connected")

    def console_disconnected(self, reason: str, *, final: bool) -> None:
        self.events.append("final" if final else "lost")


class FlakyEndpoint:
    """A client endpoint whose first attempts fail, then connect to a StringTransport."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.transports: list[StringTransport] = []
        self.protocols: list[object] = []

    def connect(self, factory: IProtocolFactory) -> defer.Deferred[object]:
        self.attempts += 1
        if self.attempts <= self.failures:
            return defer.fail(ConnectionRefusedError("guest is rebooting"))
        protocol = factory.buildProtocol(None)
        assert protocol is not None
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.transports.append(transport)
        self.protocols.append(protocol)
        return defer.succeed(protocol)


def test_serial_socket_reconnects_with_backoff() -> None:
    """A closed serial socket is retried with growing delays and output flows again."""
    clock = MemoryReactorClock()
    endpoint = FlakyEndpoint(failures=0)
    source = StreamSource(clock, endpoint, "ttyS0", retry_initial=1.0, retry_max=8.0)  # type: ignore[arg-type]
    sink = RecordingSink()
    source.start(sink)
    assert sink.events == ["connected"]
    first = endpoint.protocols[0]
    first.dataReceived(b"boot 1\r\n")  # type: ignore[attr-defined]
    source.write(b"typed")
    assert endpoint.transports[0].value() == b"typed"
    endpoint.failures = endpoint.attempts + 3  # the next 3 attempts fail: a reboot
    first.connectionLost(Failure(ConnectionResetError()))  # type: ignore[attr-defined]
    assert sink.events == ["connected", "lost"]
    source.write(b"dropped while disconnected")
    for _ in range(60):  # enough for several back-off rounds
        clock.advance(1)
    assert endpoint.attempts == 5
    assert sink.events[-1] == "connected"
    endpoint.protocols[-1].dataReceived(b"boot 2\r\n")  # type: ignore[attr-defined]
    assert bytes(sink.output) == b"boot 1\r\nboot 2\r\n"
    source.stop()
    assert endpoint.transports[-1].disconnecting
    endpoint.protocols[-1].connectionLost(Failure(ConnectionDone()))  # type: ignore[attr-defined]
    assert sink.events[-1] == "final"
