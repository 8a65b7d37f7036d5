"""Keystroke echo during a flood: frames wait for the echo, and the echo is drawn at once.

The session knows where in the console's output a key was typed (what it had read plus what
the console says is still unread); frames of older output are held back until the emulator
is past that mark, and the first output past it is drawn without waiting for the frame clock.
"""

from __future__ import annotations

import struct

import pytest
from twisted.internet.testing import MemoryReactorClock, StringTransport

from tests.app.test_session import connect, request
from vncterm.backends.memory import MemorySource
from vncterm.protocol import RfbViewerProtocol
from vncterm.session import ECHO_WINDOW, MIN_FRAME_INTERVAL, ConsoleSession


@pytest.fixture
def clock() -> MemoryReactorClock:
    return MemoryReactorClock()


@pytest.fixture
def console() -> MemorySource:
    return MemorySource()


@pytest.fixture
def watched(
    clock: MemoryReactorClock, console: MemorySource
) -> tuple[ConsoleSession, RfbViewerProtocol, StringTransport]:
    """A session with one viewer that was just sent a frame and has a request outstanding."""
    session = ConsoleSession(clock, console, name="echo")
    session.start()
    protocol, transport = connect(session)
    request(protocol, False)
    request(protocol, True)
    emulate(clock, session, b"$ ")
    assert transport.value()
    transport.clear()
    request(protocol, True)
    return session, protocol, transport


def type_key(protocol: RfbViewerProtocol, keysym: int = ord("a")) -> None:
    protocol.dataReceived(struct.pack("!BBxxI", 4, 1, keysym) + struct.pack("!BBxxI", 4, 0, keysym))


def emulate(clock: MemoryReactorClock, session: ConsoleSession, data: bytes) -> None:
    """The console writes `data`; the session's feed slices run (no time passes)."""
    session.console_output(data)
    for _ in range(100):
        if not any(call.getTime() <= clock.seconds() for call in clock.getDelayedCalls()):
            return
        clock.advance(0)


def test_output_without_a_key_waits_for_the_frame_clock(
    clock: MemoryReactorClock, watched: tuple[ConsoleSession, RfbViewerProtocol, StringTransport]
) -> None:
    session, _, transport = watched
    emulate(clock, session, b"x")
    assert transport.value() == b""
    clock.advance(MIN_FRAME_INTERVAL)
    assert transport.value()


def test_echo_is_drawn_at_once(
    clock: MemoryReactorClock, watched: tuple[ConsoleSession, RfbViewerProtocol, StringTransport],
    console: MemorySource,
) -> None:
    session, protocol, transport = watched
    type_key(protocol)
    assert console.written == b"a"
    emulate(clock, session, b"a")
    assert transport.value(), "the echo waited for the frame clock"


def test_frames_wait_while_output_from_before_the_key_is_emulated(
    clock: MemoryReactorClock, watched: tuple[ConsoleSession, RfbViewerProtocol, StringTransport],
    console: MemorySource,
) -> None:
    session, protocol, transport = watched
    console.unread = 10_000  # a flood's output is still in the kernel when the key is typed
    type_key(protocol)
    emulate(clock, session, b"y\r\n" * 2000)  # 6,000 bytes: all written before the key
    clock.advance(MIN_FRAME_INTERVAL * 2)
    assert transport.value() == b"", "a frame of old output went out ahead of the echo"
    emulate(clock, session, b"y\r\n" * 1500 + b"echo")  # 4,504 bytes more: past the mark
    assert transport.value(), "the echo was not drawn at once"


def test_a_short_read_brings_the_mark_nearer(
    clock: MemoryReactorClock, watched: tuple[ConsoleSession, RfbViewerProtocol, StringTransport],
    console: MemorySource,
) -> None:
    """When the console turns out to hold less than assumed, the echo is drawn at once."""
    session, protocol, transport = watched
    console.unread = 50_000
    type_key(protocol)
    console.unread = 0  # this read emptied the console's buffers
    emulate(clock, session, b"a")
    assert transport.value()


def test_frames_resume_when_no_echo_comes(
    clock: MemoryReactorClock, watched: tuple[ConsoleSession, RfbViewerProtocol, StringTransport],
    console: MemorySource,
) -> None:
    """Held-back frames go out once the echo window is over, even if the mark is never passed."""
    session, protocol, transport = watched
    console.unread = 1_000_000
    type_key(protocol)
    emulate(clock, session, b"y\r\n" * 100)
    clock.advance(ECHO_WINDOW / 2)
    assert transport.value() == b""
    clock.advance(ECHO_WINDOW)
    assert transport.value()


def test_the_slice_stops_to_draw_the_echo(
    clock: MemoryReactorClock, console: MemorySource,
) -> None:
    """Output queued behind the echo is emulated after the echo's frame is out."""
    session = ConsoleSession(clock, console, name="echo", timer=lambda: 0.0)
    session.start()
    protocol, _ = connect(session)
    request(protocol, False)
    request(protocol, True)
    console.unread = 4096
    type_key(protocol)
    left_to_emulate: list[int] = []
    render = session.render

    def recording_render() -> None:
        left_to_emulate.append(session._pending_bytes)
        render()

    session.render = recording_render  # type: ignore[method-assign]
    chunk = b"y\r\n" * 1365  # 4,095 bytes: one read of a pty
    for _ in range(4):
        session.console_output(chunk)
    clock.advance(0)
    # The second chunk crossed the mark: the echo's frame came before the last two chunks.
    assert left_to_emulate[0] == 2 * len(chunk)
