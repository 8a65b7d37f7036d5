"""Getting bytes onto the wire at once: writes that skip a reactor turn, and no Nagle delay.

Used by RFB viewers' connections and by consoleproxy's relays alike."""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp
from twisted.internet.interfaces import ITCPTransport


def write_now(transport: Any, data: bytes) -> None:
    """Write `data`, sending at once what the socket takes instead of a reactor turn later.

    Twisted's `write` only buffers and sends when the reactor next finds the socket writable;
    for a relay that is one extra turn of latency per hop. When nothing is buffered yet on a
    plain TCP/UNIX connection (not TLS, which has its own buffering), sending directly keeps
    the bytes in order; the rest, if the socket is full, goes through `write` as usual, so
    back-pressure is unchanged.
    """
    if (
        isinstance(transport, tcp.Connection)
        and transport.connected
        and not transport.disconnecting
        and not transport.dataBuffer
        and not transport._tempDataBuffer
    ):
        try:
            # The socket itself: Twisted's writeSomeData adds a slice and a retry loop that
            # cost a relayed byte more than the check above.
            sent = transport.socket.send(data)
        except OSError:
            sent = 0  # full (EAGAIN), or an error the ordinary path finds and reports
        if sent >= len(data):
            return
        data = data[sent:]
    transport.write(data)


def no_delay(transport: Any) -> None:
    """Turn Nagle's algorithm off on the TCP connection under `transport` (TLS or not).

    RFB is chatty in small messages: with Nagle on, an update written while an earlier small
    message (a Bell, say) is still unacknowledged waits for the viewer's delayed ACK, up to
    40 ms on Linux. Every VNC server worth using sets TCP_NODELAY for that reason. A UNIX
    socket, or anything else without the option, is left as it is.
    """
    for _ in range(4):  # TLS wraps the TCP transport; a few levels at most
        if ITCPTransport.providedBy(transport):
            try:
                transport.setTcpNoDelay(True)
            except OSError:
                pass  # already closed, or not a socket that has the option
            return
        transport = getattr(transport, "transport", None)
        if transport is None:
            return
