"""VNC Authentication through the viewer adapter, in memory: failures answered after the
throttle's delay, a blocked address refused with the reason, other addresses unaffected."""

from __future__ import annotations

import struct

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from vncterm.auththrottle import AuthThrottle
from vncterm.backends.memory import MemorySource
from vncterm.limits import AuthThrottleLimits
from vncterm.protocol import TOO_MANY_FAILURES, RfbViewerFactory
from vncterm.rfb.security import expected_response
from vncterm.session import ConsoleSession

PASSWORD = b"s3cret!"
LIMITS = AuthThrottleLimits(first_delay=0.5, max_delay=8.0, block_after=5, block_seconds=60.0)
OK = b"\x00\x00\x00\x00"
FAILED = b"\x00\x00\x00\x01"


@pytest.fixture
def session(clock: MemoryReactorClock, console: MemorySource) -> ConsoleSession:
    s = ConsoleSession(clock, console, name="guarded")
    s.start()
    return s


def attempt(factory: RfbViewerFactory, password: bytes,
            host: str = "192.0.2.10") -> StringTransport:
    """One RFB 3.8 viewer answering the challenge with ``password``; returns its transport
    after the response was sent."""
    protocol = factory.buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", host, 40000))
    protocol.makeConnection(transport)
    protocol.dataReceived(b"RFB 003.008\n")
    if transport.value() != b"RFB 003.008\n\x01\x02":
        return transport  # refused before authenticating
    protocol.dataReceived(b"\x02")
    challenge = transport.value()[-16:]
    transport.clear()
    protocol.dataReceived(expected_response(password, challenge))
    return transport


def failure_reason(data: bytes) -> bytes:
    """The reason of a SecurityResult failure."""
    assert data[:4] == FAILED
    (length,) = struct.unpack("!I", data[4:8])
    return data[8:8 + length]


def test_a_failed_authentication_is_answered_after_the_delay(
        session: ConsoleSession, clock: MemoryReactorClock) -> None:
    """A wrong password's SecurityResult failure arrives only after the throttle's delay."""
    factory = RfbViewerFactory(session, PASSWORD, throttle=AuthThrottle(LIMITS))
    transport = attempt(factory, b"guess")
    assert transport.value() == b"" and not transport.disconnecting
    clock.advance(0.5)
    assert failure_reason(transport.value()) == b"authentication failed"
    assert transport.disconnecting
    assert attempt(factory, PASSWORD).value()[:4] == OK  # the right one at once


def test_a_guessing_address_is_blocked_even_with_the_right_password(
        session: ConsoleSession, clock: MemoryReactorClock) -> None:
    """After five failures an address is refused before authenticating with the reason,
    the right password included; another address authenticates; the block ends."""
    factory = RfbViewerFactory(session, PASSWORD, throttle=AuthThrottle(LIMITS))
    for _ in range(5):
        attempt(factory, b"guess")
        clock.advance(LIMITS.max_delay)
    refused = attempt(factory, PASSWORD)
    (length,) = struct.unpack("!I", refused.value()[13:17])
    assert refused.value()[:13] == b"RFB 003.008\n\x00"  # no security types: failed
    assert refused.value()[17:17 + length] == TOO_MANY_FAILURES.encode()
    assert refused.disconnecting
    assert attempt(factory, PASSWORD, host="192.0.2.99").value()[:4] == OK
    clock.advance(LIMITS.block_seconds)
    assert attempt(factory, PASSWORD).value()[:4] == OK


def test_listeners_share_one_throttle(session: ConsoleSession,
                                      clock: MemoryReactorClock) -> None:
    """Failures on the full-access listener block the address on the view-only one too."""
    throttle = AuthThrottle(LIMITS)
    full = RfbViewerFactory(session, PASSWORD, throttle=throttle)
    watch = RfbViewerFactory(session, PASSWORD, view_only=True, throttle=throttle)
    for _ in range(5):
        attempt(full, b"guess")
        clock.advance(LIMITS.max_delay)
    assert TOO_MANY_FAILURES.encode() in attempt(watch, PASSWORD).value()


def test_a_viewer_leaving_during_the_delay_leaves_no_timer(
        session: ConsoleSession, clock: MemoryReactorClock) -> None:
    """A viewer that disconnects while its failure waits cancels the delayed answer."""
    factory = RfbViewerFactory(session, PASSWORD, throttle=AuthThrottle(LIMITS))
    protocol = factory.buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.10", 40000))
    protocol.makeConnection(transport)
    protocol.dataReceived(b"RFB 003.008\n")
    protocol.dataReceived(b"\x02")
    protocol.dataReceived(b"\x00" * 16)
    delayed = len(clock.getDelayedCalls())
    protocol.connectionLost()
    assert len(clock.getDelayedCalls()) == delayed - 1


def test_without_a_password_there_is_nothing_to_throttle(session: ConsoleSession) -> None:
    """Security None ignores the throttle (nothing is guessed)."""
    throttle = AuthThrottle(LIMITS)
    for _ in range(5):
        throttle.failed("192.0.2.10", None, 0.0)
    factory = RfbViewerFactory(session, None, throttle=throttle)
    protocol = factory.buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.10", 40000))
    protocol.makeConnection(transport)
    protocol.dataReceived(b"RFB 003.008\n")
    assert transport.value() == b"RFB 003.008\n\x01\x01"
