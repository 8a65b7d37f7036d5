"""Keep-alive HTTP connections (XML-RPC and the pages): how long an idle one is kept, the
deadline of a request once its first byte arrived, and how an idle one is closed.

xapi keeps an idle keep-alive connection for hours (its TLS is stunnel's, idle timeout 12 h),
and the XenAPI binding counts on that: ``xmlrpc.client`` makes every call on one connection.
twisted.web's channel has a single timeout for idle time and for a slow request (30 s here),
and on TLS it closes by sending close_notify and then waiting 15 s for the client's, which an
idle client never sends; the connection is then aborted with a TCP reset, and the binding's
next call fails with ``SSLEOFError`` (http.client writes the headers and the body separately:
the first meets the reset, the second fails) instead of reconnecting. A call that meets a
close it can read is retried: the reply that never comes is ``RemoteDisconnected``, which
``xmlrpc.client`` retries once on a new connection. So here:

* between requests a connection may stay idle for ``Limits.http_idle_timeout`` (12 h);
* a request must arrive whole within ``Limits.xmlrpc_deadline`` of its first byte (more bytes
  do not extend it, so a trickling client cannot hold a connection);
* an idle connection that timed out is closed so the client can tell: close_notify on TLS,
  then the TCP FIN, while what the client still sends is read and dropped (never answered
  with a reset) until it closes its side, for at most ``Limits.http_close_linger``;
* at the connection cap, the connection idle the longest is closed at once to make room
  (:class:`KeepAlivePool`), so idle connections never lock a new client out.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver
from twisted.protocols.tls import TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from twisted.web import http

from consoleproxy.limits import Limits

__all__ = ["KeepAliveChannel", "KeepAlivePool"]

log = Logger()
_CLOSED = Failure(ConnectionDone())


class KeepAlivePool:
    """The idle keep-alive connections, longest idle first."""

    def __init__(self) -> None:
        # A dict keeps insertion order: the first key has been idle the longest.
        self._idle: dict[KeepAliveChannel, None] = {}

    def __len__(self) -> int:
        return len(self._idle)

    def idle(self, channel: KeepAliveChannel) -> None:
        """``channel`` finished a request and waits for the next."""
        self._idle.pop(channel, None)
        self._idle[channel] = None

    def busy(self, channel: KeepAliveChannel) -> None:
        """``channel`` is receiving a request, or is gone."""
        self._idle.pop(channel, None)

    def close_longest_idle(self) -> bool:
        """Close the connection idle the longest; False when none is idle."""
        for channel in self._idle:
            del self._idle[channel]
            log.debug("closing an idle keep-alive connection to make room")
            channel.close_idle()
            return True
        return False


class KeepAliveChannel(http.HTTPChannel):
    """twisted.web's HTTP/1.1 channel with a long idle timeout, a request deadline, and a close
    of idle connections that clients see and reconnect after."""

    def __init__(self, pool: KeepAlivePool, limits: Limits) -> None:
        super().__init__()
        self._pool = pool
        self._idle_timeout = limits.http_idle_timeout
        self._request_deadline = limits.xmlrpc_deadline
        self._linger = limits.http_close_linger
        self._idle = False
        self._closing = False

    def connectionMade(self) -> None:
        super().connectionMade()
        self._become_idle()

    def _become_idle(self) -> None:
        self._idle = True
        self.setTimeout(self._idle_timeout)
        self._pool.idle(self)

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return  # the client has not seen the close yet: its request is dropped, unanswered
        if self._idle:
            # A request starts: from its first byte it has the deadline to arrive whole.
            self._idle = False
            self._pool.busy(self)
            self.setTimeout(self._request_deadline)
        # Not HTTPChannel.dataReceived: it would restart the timeout at every byte.
        LineReceiver.dataReceived(self, data)

    def requestDone(self, request: Any) -> None:
        # Bytes of a pipelined next request are fed again by requestDone: that request is
        # under way (or done, and then its own requestDone made the channel idle).
        pipelined = any(self._dataBuffer)
        super().requestDone(request)
        if self.persistent and not pipelined and not self.requests and not self._idle:
            self._become_idle()

    def timeoutConnection(self) -> None:
        peer = _describe(self.transport.getPeer()) if self.transport is not None else "?"
        if self._idle:
            log.debug("idle keep-alive connection from {peer} closed", peer=peer)
            self._close(at_once=False)
        else:
            log.info("request from {peer} not complete in {deadline} s: connection closed",
                     peer=peer, deadline=self._request_deadline)
            self._close(at_once=True)

    def close_idle(self) -> None:
        """Close this idle connection at once, to make room for another."""
        self._close(at_once=True)

    def _close(self, *, at_once: bool) -> None:
        self._pool.busy(self)
        self._idle = False
        self._closing = True
        self.setTimeout(None)
        transport: Any = self.transport
        if transport is None or getattr(transport, "disconnecting", False):
            return
        # A client that neither reads nor closes cannot hold the connection for ever.
        self._abortingCall = self.callLater(self._linger, self.forceAbortClient)
        tls = transport if isinstance(transport, TLSMemoryBIOProtocol) else None
        if tls is not None or at_once:
            self.loseConnection()  # on TLS: close_notify, then waits for the client's
        if at_once:
            if tls is not None and tls.transport is not None:
                tls.transport.loseConnection()
            return
        # The FIN, reading on: the client's next request is read and dropped, and it reads
        # the close (RemoteDisconnected) instead of meeting a reset.
        tcp: Any = tls.transport if tls is not None else transport
        if tls is None:
            transport.unregisterProducer()
        if tcp is not None:
            half_close = getattr(tcp, "loseWriteConnection", None) or tcp.loseConnection
            half_close()

    def connectionLost(self, reason: Failure = _CLOSED) -> None:
        self._pool.busy(self)
        self._idle = False
        super().connectionLost(reason)


def _describe(address: object) -> str:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is None:
        return str(getattr(address, "name", None) or address)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
