"""Keep-alive web connections in memory: kept idle as xapi keeps them, closed so clients can
tell, a request deadline from the first byte, and idle ones making room at the connection cap."""

from __future__ import annotations

import xmlrpc.client

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from consoleproxy.protocol import FrontDoorProtocol
from tests.proxy.helpers import (
    PASSWORD,
    RFB_TEXT,
    Harness,
    RecordingTransport,
    with_limits,
)
from tests.proxy.test_protocol import connect_request, xmlrpc_post

IDLE = 600.0
DEADLINE = 30.0
LINGER = 60.0


def harness(**limits: float) -> Harness:
    config = Harness().config
    return Harness(config=with_limits(config, **{"http_idle_timeout": IDLE,
                                                 "xmlrpc_deadline": DEADLINE,
                                                 "http_close_linger": LINGER, **limits}))


def call(protocol: FrontDoorProtocol, transport: RecordingTransport) -> bytes:
    """One XML-RPC call on the connection; returns the reply bytes and clears the transport."""
    transport.clear()
    protocol.dataReceived(xmlrpc_post(xmlrpc.client.dumps((), "system.listMethods").encode()))
    reply = transport.value()
    transport.clear()
    return reply


def login_call() -> bytes:
    return xmlrpc_post(xmlrpc.client.dumps(("root", PASSWORD, "1.0", "t"),
                                           "session.login_with_password").encode())


def test_idle_connection_outlives_the_request_deadline() -> None:
    """Between calls a connection stays open far longer than a request may take to arrive
    (twisted.web's one timeout closed it 30 s after the last call)."""
    h = harness()
    protocol, transport = h.connect()
    assert call(protocol, transport).startswith(b"HTTP/1.1 200 OK")
    h.clock.advance(IDLE - 1)
    assert not transport.disconnecting and not transport.write_closed
    assert call(protocol, transport).startswith(b"HTTP/1.1 200 OK")
    protocol.connectionLost(Failure(ConnectionDone()))


def test_idle_timeout_half_closes_and_drops_what_follows() -> None:
    """At the idle timeout the server closes its side only (FIN) and keeps reading: a request
    sent before the client saw the close is dropped unanswered, not met with a reset, and the
    client's own close ends the connection."""
    h = harness()
    protocol, transport = h.connect()
    call(protocol, transport)
    h.clock.advance(IDLE + 1)
    assert transport.write_closed and not transport.disconnecting
    protocol.dataReceived(login_call())
    assert transport.value() == b""
    protocol.readConnectionLost()
    assert transport.disconnecting
    protocol.connectionLost(Failure(ConnectionDone()))
    assert h.factory.open_connections == 0


def test_a_closed_idle_connection_is_dropped_after_the_linger() -> None:
    """A client that neither reads nor closes after the idle close is dropped after the linger."""
    h = harness()
    protocol, transport = h.connect()
    call(protocol, transport)
    h.clock.advance(IDLE + 1)
    assert not transport.disconnecting
    h.clock.advance(LINGER)
    assert transport.disconnecting
    protocol.connectionLost(Failure(ConnectionDone()))


def test_request_deadline_runs_from_the_first_byte() -> None:
    """A request trickling in a byte at a time is closed at the deadline from its first byte;
    more bytes do not extend it."""
    h = harness()
    protocol, transport = h.connect()
    request = login_call()
    for index in range(int(DEADLINE) + 5):
        if transport.disconnecting:
            break
        protocol.dataReceived(request[index : index + 1])
        h.clock.advance(1.0)
    assert transport.disconnecting
    # (The front door reads "POST " before handing the connection over: 5 s at this pace.)
    assert h.clock.seconds() <= DEADLINE + 5
    assert transport.value() == b""
    protocol.connectionLost(Failure(ConnectionDone()))


def test_idle_connection_makes_room_at_the_connection_cap() -> None:
    """At the connection cap a new client is served and the longest-idle keep-alive connection
    is closed for it (it used to be refused with 503)."""
    h = harness(max_connections=2)
    older, older_transport = h.connect()
    call(older, older_transport)
    h.clock.advance(1)
    newer, newer_transport = h.connect()
    call(newer, newer_transport)
    protocol, transport = h.connect()
    assert older_transport.disconnecting and not newer_transport.disconnecting
    protocol.dataReceived(connect_request(RFB_TEXT, h.login()))
    assert transport.value().startswith(b"HTTP/1.1 200 OK")
    for each in (older, newer, protocol):
        each.connectionLost(Failure(ConnectionDone()))
    assert h.factory.open_connections == 0
    assert len(h.factory.keepalive) == 0
