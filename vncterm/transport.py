"""Writing to Twisted transports without waiting a reactor turn (relays and RFB updates)."""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp


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
            sent = transport.writeSomeData(data)
        except OSError:
            sent = 0  # let the ordinary path find and report the error
        if isinstance(sent, int):
            if sent >= len(data):
                return
            data = data[sent:]
    transport.write(data)
