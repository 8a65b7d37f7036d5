"""A serial console exposed on a TCP or UNIX socket (qemu's `-serial tcp:`/`unix:`), reconnected
with back-off when it closes (a guest reboot) while the screen is kept."""

from __future__ import annotations

from typing import Any

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet import defer
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from vncterm.backends.base import ConsoleSink
from vncterm.backends.ttybacklog import unread_bytes_on

log = Logger()


class _SerialProtocol(Protocol):
    def __init__(self, owner: StreamSource) -> None:
        self._owner = owner

    def connectionMade(self) -> None:
        self._owner.connected(self)

    def dataReceived(self, data: bytes) -> None:
        self._owner.sink_output(data)

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        self._owner.lost(self, reason)


class StreamSource:
    """Keeps a client connection to a serial console socket, retrying with exponential back-off."""

    #: A serial console: pasted text is typed at about 1/5 of 115200 baud (see PtyDeviceSource).
    paste_bytes_per_second = 2048

    def __init__(
        self,
        reactor: Any,
        endpoint: IStreamClientEndpoint,
        description: str,
        *,
        retry_initial: float = 0.5,
        retry_max: float = 10.0,
    ) -> None:
        self._reactor = reactor
        self.description = description
        self._sink: ConsoleSink | None = None
        self._protocol: _SerialProtocol | None = None
        self._stopped = False
        self._service = ClientService(
            endpoint,
            Factory.forProtocol(lambda: _SerialProtocol(self)),
            retryPolicy=backoffPolicy(initialDelay=retry_initial, maxDelay=retry_max),
            clock=reactor,
        )

    def start(self, sink: ConsoleSink) -> None:
        self._sink = sink
        self._service.startService()

    def first_connection(self) -> defer.Deferred[Any]:
        """Fires once connected; fails if the first attempt fails (after start): a console that
        was never there is a mistake to report, not a guest reboot to wait out."""
        return self._service.whenConnected(failAfterFailures=1)

    def connected(self, protocol: _SerialProtocol) -> None:
        self._protocol = protocol
        log.info("console {console} connected", console=self.description)
        if self._sink is not None:
            self._sink.console_connected(self.description)

    def sink_output(self, data: bytes) -> None:
        if self._sink is not None:
            self._sink.console_output(data)

    def lost(self, protocol: _SerialProtocol, reason: Failure) -> None:
        if self._protocol is protocol:
            self._protocol = None
        final = self._stopped
        if self._sink is not None:
            self._sink.console_disconnected(f"{self.description} closed", final=final)

    def write(self, data: bytes) -> None:
        if self._protocol is not None and self._protocol.transport is not None and data:
            self._protocol.transport.write(data)

    def resize(self, columns: int, rows: int) -> None:
        """A serial line has no window size to set."""

    def unread_bytes(self) -> int:
        transport = self._protocol.transport if self._protocol is not None else None
        handle = getattr(transport, "getHandle", None)
        if handle is None:
            return 0
        return unread_bytes_on(handle().fileno())

    def pause_reading(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.pauseProducing()  # type: ignore[attr-defined]

    def resume_reading(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.resumeProducing()  # type: ignore[attr-defined]

    def stop(self) -> None:
        self._stopped = True
        self._service.stopService()
